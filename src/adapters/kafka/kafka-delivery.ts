import { decodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo, Message } from '../../messaging/message.js';
import type { Delivery } from '../../messaging/transport.js';
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
  const headers = readHeaders(record.headers);
  const raw = { headers, body: record.value ?? '' };
  let message: Message | undefined;
  let decodeError: Error | undefined;
  try {
    message = decodeBinary(raw, CE_PREFIX);
  } catch (error) {
    decodeError = error instanceof Error ? error : new Error(String(error));
  }
  const attempt = Number(headers[HEADERS.attempt] ?? '1');
  const firstFailure = headers[HEADERS.firstFailureAt];
  const firstFailureAt = firstFailure === undefined ? undefined : new Date(firstFailure);
  const key = record.key ?? undefined;

  let done = false;
  const claim = () => {
    if (done)
      throw new Error(`Delivery of ${message?.id ?? 'an undecodable message'} was already settled`);
    done = true;
  };
  const produceThenSettle = async (produce: () => Promise<void>) => {
    claim();
    try {
      await produce();
    } catch (error) {
      scope.failed();
      throw error;
    }
    scope.settled();
  };

  return {
    message,
    decodeError,
    raw,
    attempt: Number.isSafeInteger(attempt) && attempt >= 1 ? attempt : 1,
    firstFailureAt,
    ack: async () => {
      claim();
      scope.settled();
    },
    retry: (delayMs, failure) =>
      produceThenSettle(() =>
        scope.publishRetry({
          key,
          headers: {
            ...originalHeaders(headers),
            [HEADERS.attempt]: String(attempt + 1),
            [HEADERS.firstFailureAt]: (firstFailureAt ?? failure.at).toISOString(),
            [HEADERS.notBefore]: String(Date.now() + Math.max(0, Math.round(delayMs))),
            [HEADERS.lastError]: failure.error,
          },
          body: raw.body,
        }),
      ),
    deadLetter: (failure: FailureInfo) =>
      produceThenSettle(() => scope.publishDeadLetter(deadLetterWire(raw, failure, new Date()))),
    release: async () => {
      claim();
      scope.released();
    },
  };
}
