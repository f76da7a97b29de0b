import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Delivery } from '../../messaging/transport.js';
import { MAX_BATCH_ENTRIES } from './sqs-batch.js';
import { toDelivery } from './sqs-delivery.js';

export interface PollerSettings {
  client: SQSClient;
  queueUrl: string;
  deadLetterUrl: string;
  fifo: boolean;
  prefetch: number;
  /** Long polling: how long one receive waits for messages (1-20 s); 0 polls short. */
  waitTimeSeconds: number;
  /** Short polling only: the pause after a receive that found nothing. */
  pollIntervalMs: number;
  visibilityTimeoutSeconds: number;
  onError: (error: unknown) => void;
  /** Called once stopped with every delivery settled: the heartbeat has ended. */
  onFinished: () => void;
}

/**
 * Long-polls one group queue with credit: never more than `prefetch` deliveries unsettled in
 * this process. Every unsettled delivery — running, or queued behind a busy key — keeps its
 * lease through a heartbeat that resets its visibility timeout every third of it, so a slow
 * handler is not redelivered to another consumer. A receive in progress is left to finish on
 * `stop()` (messages SQS already handed to a cancelled request would stay invisible for the
 * whole visibility timeout); what it brings back is given back at once.
 */
export class SqsPoller {
  readonly #unsettled = new Set<string>();
  readonly #deletes: DeleteBatcher;
  #stopping = false;
  #wake: (() => void) | undefined;
  #running: Promise<void> = Promise.resolve();
  #heartbeat: NodeJS.Timeout | undefined;
  #beat: Promise<void> = Promise.resolve();

  constructor(
    private readonly settings: PollerSettings,
    private readonly onDelivery: (delivery: Delivery) => void,
  ) {
    this.#deletes = new DeleteBatcher(settings.client, settings.queueUrl);
  }

  start(): void {
    const everyMs = Math.max(200, (this.settings.visibilityTimeoutSeconds * 1000) / 3);
    this.#heartbeat = setInterval(() => {
      this.#beat = this.#extend().catch(this.settings.onError);
    }, everyMs);
    this.#heartbeat.unref();
    this.#running = this.#run();
  }

  /** Stops receiving; deliveries already handed out keep their heartbeat until settled. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#running;
    if (this.#unsettled.size === 0) this.#finish();
  }

  /** Forgets every delivery (the driver is closing): SQS redelivers them after their timeout. */
  close(): void {
    this.#stopping = true;
    this.#wake?.();
    clearInterval(this.#heartbeat);
    this.#unsettled.clear();
  }

  #finish(): void {
    clearInterval(this.#heartbeat);
    this.settings.onFinished();
  }

  async #settling(receipt: string): Promise<void> {
    this.#unsettled.delete(receipt);
    if (this.#stopping && this.#unsettled.size === 0) this.#finish();
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    // A heartbeat already sent for this message must land before the settlement's own call,
    // or it would undo a retry's delay or a release.
    await this.#beat;
  }

  async #extend(): Promise<void> {
    const receipts = [...this.#unsettled];
    for (let start = 0; start < receipts.length; start += MAX_BATCH_ENTRIES) {
      const chunk = receipts.slice(start, start + MAX_BATCH_ENTRIES);
      const { Failed } = await this.settings.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.settings.queueUrl,
          Entries: chunk.map((ReceiptHandle, i) => ({
            Id: String(i),
            ReceiptHandle,
            VisibilityTimeout: this.settings.visibilityTimeoutSeconds,
          })),
        }),
      );
      for (const failure of Failed ?? [])
        if (this.#unsettled.has(chunk[Number(failure.Id)]!))
          this.settings.onError(
            new Error(
              `Could not extend the visibility of a message: ${failure.Code} ${failure.Message ?? ''}`,
            ),
          );
    }
  }

  /** The short-polling pause; `stop()` and settlements cut it short. */
  async #pause(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      timer = setTimeout(resolve, this.settings.pollIntervalMs);
    });
    clearTimeout(timer);
    this.#wake = undefined;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      const room = this.settings.prefetch - this.#unsettled.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      try {
        const { Messages } = await this.settings.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.settings.queueUrl,
            MaxNumberOfMessages: Math.min(MAX_BATCH_ENTRIES, room),
            WaitTimeSeconds: this.settings.waitTimeSeconds,
            VisibilityTimeout: this.settings.visibilityTimeoutSeconds,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: [
              'ApproximateReceiveCount',
              'ApproximateFirstReceiveTimestamp',
            ],
          }),
        );
        failures = 0;
        if (!Messages?.length && this.settings.waitTimeSeconds === 0) await this.#pause();
        for (const received of Messages ?? []) {
          if (!received.ReceiptHandle) continue;
          this.#unsettled.add(received.ReceiptHandle);
          const delivery = toDelivery(received, {
            client: this.settings.client,
            queueUrl: this.settings.queueUrl,
            deadLetterUrl: this.settings.deadLetterUrl,
            fifo: this.settings.fifo,
            remove: (receipt) => this.#deletes.add(receipt),
            settling: (receipt) => this.#settling(receipt),
          });
          if (this.#stopping) void delivery.release().catch(this.settings.onError);
          else this.onDelivery(delivery);
        }
      } catch (error) {
        // Unreachable, throttled, or the queue is gone: report each failure, retry with a growing pause.
        this.settings.onError(error);
        failures++;
        if (!this.#stopping) await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }
}

/**
 * Acks become `DeleteMessageBatch` calls: those settled in the same turn of the event loop
 * (up to 10) share one request. A delete SQS refused rejects that ack alone.
 */
class DeleteBatcher {
  #pending: { receipt: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  #scheduled = false;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  add(receipt: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ receipt, resolve, reject });
      if (this.#pending.length >= MAX_BATCH_ENTRIES) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#pending.length > 0) {
      const chunk = this.#pending.splice(0, MAX_BATCH_ENTRIES);
      this.client
        .send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: chunk.map((entry, i) => ({ Id: String(i), ReceiptHandle: entry.receipt })),
          }),
        )
        .then(({ Failed }) => {
          const failed = new Map((Failed ?? []).map((f) => [Number(f.Id), f]));
          chunk.forEach((entry, i) => {
            const failure = failed.get(i);
            if (failure)
              entry.reject(
                new Error(
                  `SQS refused to delete the message: ${failure.Code} ${failure.Message ?? ''}`,
                ),
              );
            else entry.resolve();
          });
        })
        .catch((error: unknown) => {
          const reason = error instanceof Error ? error : new Error(String(error));
          for (const entry of chunk) entry.reject(reason);
        });
    }
  }
}
