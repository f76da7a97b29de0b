import { randomUUID } from 'node:crypto';
import {
  DeleteQueueCommand,
  SendMessageBatchCommand,
  SQSClient,
  type SQSClientConfig,
} from '@aws-sdk/client-sqs';
import { encodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { Message } from '../../messaging/message.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  TransportDriver,
} from '../../messaging/transport.js';
import {
  assertSizes,
  DEFAULT_MAX_MESSAGE_BYTES,
  sendBatches,
  splitBatches,
  toBatchFailures,
  type BatchFailure,
} from './sqs-batch.js';
import { SqsDeadLetterStore } from './sqs-dead-letters.js';
import { SqsPoller } from './sqs-poller.js';
import {
  assertPrefix,
  deadLetterQueuePrefix,
  describe,
  destinationQueuePrefix,
  ensureGroupQueue,
  groupQueueNames,
  listQueues,
  queueNameOf,
  type QueueSettings,
} from './sqs-topology.js';
import { batchEntryFields, CE_PREFIX, outgoing, type OutgoingWire } from './sqs-wire.js';

export interface SqsTransportOptions {
  /** A client to use (the driver then leaves destroying it to you). */
  client?: SQSClient;
  /**
   * Settings for the client the driver creates: region, credentials, and `endpoint` only when
   * you point it elsewhere (LocalStack, moto). Without them the SDK's usual chain applies
   * (`AWS_REGION`, `AWS_PROFILE`, instance roles, `AWS_ENDPOINT_URL_SQS`…).
   */
  clientConfig?: SQSClientConfig;
  /** First part of every queue name (1-18 letters, digits, "-"). Default `causeway`. */
  prefix?: string;
  /**
   * FIFO queues: `MessageGroupId` is the partition key (the message id when there is none),
   * `MessageDeduplicationId` the message id. Per-key order then holds across processes.
   */
  fifo?: boolean;
  /** How long a received message stays hidden; the heartbeat renews it. Default 30 s. */
  visibilityTimeoutSeconds?: number;
  /**
   * Long polling: how long one receive waits (1-20 s); `stop()` waits for it. Default 10 s.
   * 0 polls short: a receive returns at once, and after an empty one the poller pauses
   * `pollIntervalMs` (default 200 ms) — more requests, but it notices a message made visible
   * again at once on emulators whose long polls wake only for new messages (moto).
   */
  waitTimeSeconds?: number;
  pollIntervalMs?: number;
  /**
   * Receives after which SQS moves a message to the dead-letter queue by itself (a consumer
   * that crashes on it). Keep it above the consumers' `retry.maxAttempts`. Default 20.
   */
  maxReceiveCount?: number;
  /** The size limit checked before sending (body plus attributes). Default 256 KiB. */
  maxMessageBytes?: number;
  /** How long the list of a destination's group queues is reused by `publish`. Default 5 s. */
  groupRefreshMs?: number;
  /** Further attributes of the queues this driver creates (`KmsMasterKeyId`, …). */
  queueAttributes?: Record<string, string>;
  /** Receive failures (unreachable, throttled, queue deleted) while the driver keeps polling. */
  onError?: (error: unknown) => void;
}

export interface GroupQueue {
  url: string;
  deadLetterUrl: string;
}

/**
 * The Transport on Amazon SQS. SQS has no consumer groups, so each (destination, group) is
 * its own queue, `<prefix>_<destination>__<group>`, with its own dead-letter queue, and
 * `publish` sends every message to each group queue of the destination. The queue names are the
 * registry: `publish` lists the queues named `<prefix>_<destination>__*` (re-listed after
 * `groupRefreshMs`), so a group receives what is published once its queue exists — create it
 * (`declareGroup`, or start the consumer) before publishing what it must not miss. The sends to
 * several groups are not atomic: a failed publish may have reached some groups, and publishing
 * again duplicates there (FIFO queues drop the duplicate within 5 minutes; an inbox removes it
 * elsewhere). For one atomic fan-out point use `causeway/sns`.
 */
export class SqsTransportDriver implements TransportDriver {
  readonly kind: string = 'sqs';
  /** Plugs into `DeadLetterManager`: list, show, retry (to the letter's group queue), purge. */
  readonly deadLetterStore: SqsDeadLetterStore;
  readonly client: SQSClient;
  readonly prefix: string;
  readonly fifo: boolean;
  readonly #owned: boolean;
  readonly #pollers = new Set<SqsPoller>();
  readonly #groups = new Map<string, Promise<GroupQueue>>();
  readonly #known = new Map<string, Set<string>>();
  readonly #listed = new Map<string, { at: number; urls: Promise<string[]> }>();
  readonly #queueSettings: QueueSettings;

  constructor(protected readonly options: SqsTransportOptions = {}) {
    this.prefix = options.prefix ?? 'causeway';
    assertPrefix(this.prefix);
    this.fifo = options.fifo ?? false;
    this.#owned = !options.client;
    this.client = options.client ?? new SQSClient(options.clientConfig ?? {});
    this.#queueSettings = {
      fifo: this.fifo,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
      maxReceiveCount: options.maxReceiveCount ?? 20,
      extra: options.queueAttributes ?? {},
    };
    this.deadLetterStore = new SqsDeadLetterStore(this.client, {
      prefix: this.prefix,
      fifo: this.fifo,
      maxReceiveCount: this.#queueSettings.maxReceiveCount,
    });
  }

  async publish(destination: string, messages: readonly Message[]): Promise<void> {
    await this.publishRaw(
      destination,
      messages.map((m) => encodeBinary(m, CE_PREFIX)),
    );
  }

  /**
   * Sends already-encoded messages to every group queue of the destination, in batches of at
   * most 10 messages and `maxMessageBytes`; resolves once SQS stored every one in every queue.
   */
  async publishRaw(destination: string, wires: readonly WireMessage[]): Promise<void> {
    // Foreign bytes without a CloudEvents id still need FIFO group and deduplication ids.
    const prepared = wires.map((wire) => outgoing(wire, randomUUID()));
    assertSizes(destination, prepared, this.sizeLimit);
    const urls = await this.#groupQueues(destination);
    const batches = splitBatches(prepared, this.sizeLimit.bytes);
    const outcomes = await Promise.allSettled(
      urls.map((url) => sendBatches(destination, batches, (batch) => this.sendBatch(url, batch))),
    );
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** The limit `publish` checks, named in `MessageTooLargeError`. */
  get sizeLimit(): { bytes: number; name: string } {
    return {
      bytes: this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      name: 'the SQS message size limit (maxMessageBytes)',
    };
  }

  /** One `SendMessageBatch` call; returns the entries SQS refused. */
  async sendBatch(url: string, batch: readonly OutgoingWire[]): Promise<BatchFailure[]> {
    const { Failed = [] } = await this.client.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: batch.map((wire, i) => ({
          ...batchEntryFields(wire, i, this.fifo),
          MessageBody: wire.body,
        })),
      }),
    );
    return toBatchFailures(Failed);
  }

  async consume(
    destination: string,
    group: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle> {
    const queue = await this.declareGroup(destination, group);
    const onError =
      this.options.onError ??
      ((error: unknown) =>
        process.emitWarning(
          `SQS consumer ${destination}/${group}: ${describe(error)}`,
          'CausewayTransportWarning',
        ));
    const poller = new SqsPoller(
      {
        client: this.client,
        queueUrl: queue.url,
        deadLetterUrl: queue.deadLetterUrl,
        fifo: this.fifo,
        prefetch: options.prefetch,
        waitTimeSeconds: this.options.waitTimeSeconds ?? 10,
        pollIntervalMs: this.options.pollIntervalMs ?? 200,
        visibilityTimeoutSeconds: this.#queueSettings.visibilityTimeoutSeconds,
        onError,
        // Kept until its last delivery is settled, so that `close()` ends its heartbeat.
        onFinished: () => this.#pollers.delete(poller),
      },
      onDelivery,
    );
    this.#pollers.add(poller);
    poller.start();
    return { stop: () => poller.stop() };
  }

  /**
   * Creates the group's queue and dead-letter queue (once per driver) so that it receives
   * what is published from now on, before any consumer runs.
   */
  declareGroup(destination: string, group: string): Promise<GroupQueue> {
    const key = JSON.stringify([destination, group]);
    let ready = this.#groups.get(key);
    if (!ready) {
      ready = this.createGroupQueue(destination, group).then((queue) => {
        let known = this.#known.get(destination);
        if (!known) this.#known.set(destination, (known = new Set()));
        known.add(queue.url);
        return queue;
      });
      ready.catch(() => this.#groups.delete(key));
      this.#groups.set(key, ready);
    }
    return ready;
  }

  /** Creates (or finds) the queues of a group; the SNS driver subscribes them to its topics. */
  protected createGroupQueue(destination: string, group: string): Promise<GroupQueue> {
    return ensureGroupQueue(
      this.client,
      groupQueueNames(this.prefix, destination, group, this.fifo),
      { destination, group },
      this.#queueSettings,
    );
  }

  /** Deletes every group queue and dead-letter queue of a destination (tests, teardown). */
  async deleteDestination(destination: string): Promise<void> {
    const urls = [
      ...(await listQueues(this.client, destinationQueuePrefix(this.prefix, destination))),
      ...(await listQueues(this.client, deadLetterQueuePrefix(this.prefix, destination))),
    ];
    for (const url of urls) await this.client.send(new DeleteQueueCommand({ QueueUrl: url }));
    this.#known.delete(destination);
    this.#listed.delete(destination);
    for (const key of this.#groups.keys())
      if ((JSON.parse(key) as string[])[0] === destination) this.#groups.delete(key);
  }

  async close(): Promise<void> {
    for (const poller of this.#pollers) poller.close();
    this.#pollers.clear();
    if (this.#owned) this.client.destroy();
  }

  /** The destination's group queues: listed by name prefix, plus those this driver created. */
  async #groupQueues(destination: string): Promise<string[]> {
    let listed = this.#listed.get(destination);
    if (!listed || Date.now() - listed.at > (this.options.groupRefreshMs ?? 5_000)) {
      listed = {
        at: Date.now(),
        urls: listQueues(this.client, destinationQueuePrefix(this.prefix, destination)).then(
          (urls) => urls.filter((url) => url.endsWith('.fifo') === this.fifo),
        ),
      };
      listed.urls.catch(() => this.#listed.delete(destination));
      this.#listed.set(destination, listed);
    }
    // Keyed by name: the URL SQS lists and the one CreateQueue returned may be spelled apart.
    const byName = new Map<string, string>();
    for (const url of [...(await listed.urls), ...(this.#known.get(destination) ?? [])])
      byName.set(queueNameOf(url), url);
    return [...byName.values()];
  }
}
