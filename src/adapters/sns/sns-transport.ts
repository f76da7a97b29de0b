import {
  DeleteTopicCommand,
  PublishBatchCommand,
  SNSClient,
  type SNSClientConfig,
} from '@aws-sdk/client-sns';
import { randomUUID } from 'node:crypto';
import type { WireMessage } from '../../messaging/binary-codec.js';
import {
  assertSizes,
  DEFAULT_MAX_MESSAGE_BYTES,
  sendBatches,
  splitBatches,
  toBatchFailures,
  type BatchFailure,
} from '../sqs/sqs-batch.js';
import { queueArn } from '../sqs/sqs-topology.js';
import { SqsTransportDriver, type SqsTransportOptions } from '../sqs/sqs-transport.js';
import { batchEntryFields, outgoing, type OutgoingWire } from '../sqs/sqs-wire.js';
import { ensureTopic, subscribeQueue, topicName } from './sns-topology.js';

export interface SnsTransportOptions extends SqsTransportOptions {
  /** An SNS client to use (the driver then leaves destroying it to you). */
  snsClient?: SNSClient;
  /** Settings for the SNS client the driver creates; by default the SQS `clientConfig`. */
  snsClientConfig?: SNSClientConfig;
  /**
   * The event types a group wants, per destination: its subscription gets a filter policy on
   * `ce-type`, so SNS never delivers other types to its queue. `undefined`: every type.
   */
  filterTypes?: (destination: string, group: string) => readonly string[] | undefined;
  /** Further attributes of the topics this driver creates (`KmsMasterKeyId`, …). */
  topicAttributes?: Record<string, string>;
}

/**
 * The Transport on Amazon SNS with SQS queues: each destination is a topic,
 * `<prefix>_<destination>`, and each group an SQS queue (the `causeway/sqs` group queue, with
 * its dead-letter queue and redrive policy) subscribed to it with raw message delivery. `publish`
 * is one `PublishBatch` per 10 messages: SNS fans each message out to every group's queue, so a
 * message SNS accepted reaches every subscribed group — the atomic fan-out that SQS alone lacks.
 * Consuming, retries, the heartbeat and dead letters are the SQS driver's.
 */
export class SnsTransportDriver extends SqsTransportDriver {
  override readonly kind: string = 'sns';
  readonly sns: SNSClient;
  readonly #ownsSns: boolean;
  readonly #topics = new Map<string, Promise<string>>();

  constructor(protected override readonly options: SnsTransportOptions = {}) {
    super(options);
    this.#ownsSns = !options.snsClient;
    this.sns =
      options.snsClient ?? new SNSClient(options.snsClientConfig ?? options.clientConfig ?? {});
  }

  /** SNS's limit for one message and for a whole batch: 256 KiB, attributes included. */
  override get sizeLimit(): { bytes: number; name: string } {
    return {
      bytes: Math.min(
        this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
        DEFAULT_MAX_MESSAGE_BYTES,
      ),
      name: 'the SNS message size limit (256 KiB)',
    };
  }

  /**
   * Publishes already-encoded messages to the destination's topic in batches of at most 10
   * and 256 KiB, in order; resolves once SNS accepted every one.
   */
  override async publishRaw(destination: string, wires: readonly WireMessage[]): Promise<void> {
    const prepared = wires.map((wire) => outgoing(wire, randomUUID()));
    assertSizes(destination, prepared, this.sizeLimit);
    const topicArn = await this.topic(destination);
    await sendBatches(destination, splitBatches(prepared, this.sizeLimit.bytes), (batch) =>
      this.#publishBatch(topicArn, batch),
    );
  }

  /** The destination's topic ARN, created on first use. */
  topic(destination: string): Promise<string> {
    let ready = this.#topics.get(destination);
    if (!ready) {
      ready = ensureTopic(
        this.sns,
        topicName(this.prefix, destination, this.fifo),
        this.fifo,
        this.options.topicAttributes ?? {},
      );
      ready.catch(() => this.#topics.delete(destination));
      this.#topics.set(destination, ready);
    }
    return ready;
  }

  /** The group's SQS queue, subscribed to the destination's topic. */
  protected override async createGroupQueue(destination: string, group: string) {
    const queue = await super.createGroupQueue(destination, group);
    await subscribeQueue(this.sns, this.client, {
      topicArn: await this.topic(destination),
      queueUrl: queue.url,
      queueArn: await queueArn(this.client, queue.url),
      types: this.options.filterTypes?.(destination, group),
    });
    return queue;
  }

  /** Deletes the destination's topic (and so its subscriptions), then its queues. */
  override async deleteDestination(destination: string): Promise<void> {
    await this.sns.send(new DeleteTopicCommand({ TopicArn: await this.topic(destination) }));
    this.#topics.delete(destination);
    await super.deleteDestination(destination);
  }

  override async close(): Promise<void> {
    await super.close();
    if (this.#ownsSns) this.sns.destroy();
  }

  async #publishBatch(topicArn: string, batch: readonly OutgoingWire[]): Promise<BatchFailure[]> {
    const { Failed = [] } = await this.sns.send(
      new PublishBatchCommand({
        TopicArn: topicArn,
        PublishBatchRequestEntries: batch.map((wire, i) => ({
          ...batchEntryFields(wire, i, this.fifo),
          Message: wire.body,
        })),
      }),
    );
    return toBatchFailures(Failed);
  }
}
