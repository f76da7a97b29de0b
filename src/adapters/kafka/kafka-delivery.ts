import { tryDecodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import { failureTime, type FailureInfo, type Message } from '../../messaging/message.js';
import { alreadySettled, type Delivery } from '../../messaging/transport.js';
import type { KafkaRecord } from './kafka-group-reader.js';
import { CE_PREFIX, deadLetterWire, HEADERS, originalHeaders, readHeaders } from './kafka-wire.js';

/** A message to produce: the wire form plus its Kafka key (the partition key). */
export interface KafkaWire extends WireMessage {
  key: string | undefined;
}

export interface DeliveryScope {
  /** Produces to the group's retry topic; resolves once the broker acknowledged it. */
  publishRetry(wire: KafkaWire): Promise<void>;
  /** Produces to the dead-letter topic; resolves once the broker acknowledged it. */
  publishDeadLetter(wire: WireMessage): Promise<void>;
  /** The delivery is done with (acked, retried or dead-lettered): its offset may be committed. */
  settled(): void;
  /** Given back unstarted: not committed, so the group reads it again after this consumer. */
  released(): void;
  /** Producing the retry or dead letter failed: the message must be handed out again. */
  failed(): void;
}

/**
 * Wraps one Kafka record. The attempt and the first failure time ride in headers the retry
 * topic carries, so a message is retried without the partition waiting for it.
 */
export function toDelivery(record: KafkaRecord, scope: DeliveryScope): Delivery {
  return new KafkaDelivery(record, scope);
}

/** A class rather than an object of closures: one is made per message, on the hot path. */
class KafkaDelivery implements Delivery {
  readonly message: Message | undefined;
  readonly decodeError: Error | undefined;
  readonly raw: { headers: Record<string, string>; body: string };
  readonly attempt: number;
  readonly firstFailureAt: Date | undefined;
  #done = false;

  constructor(
    private readonly record: KafkaRecord,
    private readonly scope: DeliveryScope,
  ) {
    const headers = readHeaders(record.headers);
    this.raw = { headers, body: record.value ?? '' };
    ({ message: this.message, decodeError: this.decodeError } = tryDecodeBinary(
      this.raw,
      CE_PREFIX,
    ));
    const attempt = Number(headers[HEADERS.attempt] ?? '1');
    this.attempt = Number.isSafeInteger(attempt) && attempt >= 1 ? attempt : 1;
    const firstFailure = headers[HEADERS.firstFailureAt];
    this.firstFailureAt = failureTime(firstFailure);
  }

  // Async, so that settling twice is a rejected promise, never a synchronous throw.
  async ack(): Promise<void> {
    this.#claim();
    this.scope.settled();
  }

  retry(delayMs: number, failure: { at: Date; error: string }): Promise<void> {
    const headers = this.raw.headers;
    return this.#produceThenSettle(() =>
      this.scope.publishRetry({
        key: this.record.key ?? undefined,
        headers: {
          ...originalHeaders(headers),
          [HEADERS.attempt]: String(this.attempt + 1),
          [HEADERS.firstFailureAt]: (this.firstFailureAt ?? failure.at).toISOString(),
          [HEADERS.notBefore]: String(Date.now() + Math.max(0, Math.round(delayMs))),
          [HEADERS.lastError]: failure.error,
        },
        body: this.raw.body,
      }),
    );
  }

  deadLetter(failure: FailureInfo): Promise<void> {
    return this.#produceThenSettle(() =>
      this.scope.publishDeadLetter(deadLetterWire(this.raw, failure, new Date())),
    );
  }

  async release(): Promise<void> {
    this.#claim();
    this.scope.released();
  }

  #claim(): void {
    if (this.#done) throw alreadySettled(this.message);
    this.#done = true;
  }

  async #produceThenSettle(produce: () => Promise<void>): Promise<void> {
    this.#claim();
    try {
      await produce();
    } catch (error) {
      this.scope.failed();
      throw error;
    }
    this.scope.settled();
  }
}
