import type { MessageToProduce, Producer } from '@platformatic/kafka';
import { StoreUnavailableError } from '../../core/errors.js';
import { isUnavailable } from './kafka-topology.js';

export type Outgoing = MessageToProduce<string, string, string, string>;

const MAX_BATCH = 1_000;

/**
 * One produce request in flight at a time, with everything queued meanwhile coalesced into the
 * next one. `@platformatic/kafka` 1.x hands concurrent idempotent sends to one partition the
 * same sequence number, and the broker then drops all but one as duplicates while every send
 * reports success (platformatic/kafka#326). Serializing avoids that, and coalescing keeps the
 * throughput: concurrent publishers share a request, like Kafka's own `linger.ms`.
 */
export class SerialProducer {
  #queue: { messages: Outgoing[]; resolve: () => void; reject: (error: unknown) => void }[] = [];
  #running = false;

  constructor(
    readonly producer: Producer<string, string, string, string>,
    /** The brokers' address, for the error when they cannot be reached. */
    private readonly address: string,
  ) {}

  /** Resolves once the broker acknowledged every message (acks=all). */
  send(messages: Outgoing[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ messages, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#queue.length > 0) {
      const batch = [this.#queue.shift()!];
      let size = batch[0]!.messages.length;
      while (this.#queue.length > 0 && size + this.#queue[0]!.messages.length <= MAX_BATCH) {
        const next = this.#queue.shift()!;
        size += next.messages.length;
        batch.push(next);
      }
      try {
        await this.producer.send({ messages: batch.flatMap((b) => b.messages) });
        for (const b of batch) b.resolve();
      } catch (cause) {
        const error = isUnavailable(cause)
          ? new StoreUnavailableError(this.address, { cause })
          : cause;
        for (const b of batch) b.reject(error);
      }
    }
    this.#running = false;
  }
}
