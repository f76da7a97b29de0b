import { tryDecodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import { failureTime } from '../../messaging/message.js';
import { alreadySettled, type Delivery } from '../../messaging/transport.js';
import type { ConsumerLink } from './pulsar-consumer.js';
import {
  ATTEMPT_PROPERTY,
  CE_PREFIX,
  failureProperties,
  FIRST_FAILURE_PROPERTY,
  LAST_ERROR_PROPERTY,
  originalHeaders,
  toWireMessage,
  type WsIncoming,
} from './pulsar-wire.js';

export interface DeliveryScope {
  /** Publishes to the group's retry topic, held back by the broker for `delayMs`. */
  publishRetry(wire: WireMessage, delayMs: number): Promise<void>;
  /** Publishes to the group's dead-letter topic; resolves on the broker's receipt. */
  publishDeadLetter(wire: WireMessage): Promise<void>;
}

/**
 * Wraps one WebSocket delivery. Retries follow Pulsar's `reconsumeLater`: the message is
 * re-published to the group's retry topic with `deliverAfterMs` (the broker holds it, never
 * this process) and its attempt count as a property, then the original is acked. A negative
 * ack cannot do this: its redelivery delay is one fixed setting of the consumer, while the
 * retry policy's backoff grows per attempt. Publish-then-ack means a crash in between
 * duplicates the message, never loses it.
 *
 * The attempt is the count carried by the retry topic plus Pulsar's redelivery count (which
 * only ack timeouts and negative acks raise, not a closed connection), plus one.
 */
export function toDelivery(
  incoming: WsIncoming,
  link: ConsumerLink,
  scope: DeliveryScope,
): Delivery {
  const raw = toWireMessage(incoming);
  const { message, decodeError } = tryDecodeBinary(raw, CE_PREFIX);
  const properties = incoming.properties ?? {};
  const previous = Number(properties[ATTEMPT_PROPERTY] ?? 0);
  const attempt =
    (Number.isSafeInteger(previous) ? previous : 0) + (incoming.redeliveryCount ?? 0) + 1;
  const first = properties[FIRST_FAILURE_PROPERTY];
  const firstFailureAt = failureTime(first);

  let done = false;
  const settle = async (work: () => Promise<void>) => {
    if (done) throw alreadySettled(message);
    done = true;
    try {
      await work();
    } finally {
      link.settled();
    }
  };
  const headers = originalHeaders(raw.headers);

  return {
    message,
    decodeError,
    raw: { headers, body: raw.body },
    attempt,
    firstFailureAt,
    ack: () => settle(() => link.ack(incoming.messageId)),
    retry: (delayMs, failure) =>
      settle(async () => {
        await scope.publishRetry(
          {
            headers: {
              ...headers,
              [ATTEMPT_PROPERTY]: String(attempt),
              [FIRST_FAILURE_PROPERTY]: (firstFailureAt ?? failure.at).toISOString(),
              [LAST_ERROR_PROPERTY]: failure.error.slice(0, 1_000),
            },
            body: raw.body,
          },
          delayMs,
        );
        await link.ack(incoming.messageId);
      }),
    // Left unacked: Pulsar hands it to another consumer once this one's connection closes.
    release: () => settle(() => Promise.resolve()),
    deadLetter: (failure) =>
      settle(async () => {
        await scope.publishDeadLetter({
          headers: { ...headers, ...failureProperties(failure) },
          body: raw.body,
        });
        await link.ack(incoming.messageId);
      }),
  };
}
