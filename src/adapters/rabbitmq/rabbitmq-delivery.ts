import type { Channel, ConsumeMessage, Options } from 'amqplib';
import { newId } from '../../core/ids.js';
import { tryDecodeBinary } from '../../messaging/binary-codec.js';
import type { FailureInfo } from '../../messaging/message.js';
import { alreadySettled, type Delivery } from '../../messaging/transport.js';
import { retryBucket, type RabbitMqNames } from './rabbitmq-topology.js';
import {
  ATTEMPT_HEADER,
  CE_PREFIX,
  DEAD_LETTER_ID_HEADER,
  DEAD_LETTERED_AT_HEADER,
  deadLetterRoute,
  FAILURE_HEADER,
  failureHeader,
  FIRST_FAILURE_HEADER,
  headerDate,
  headerNumber,
  LAST_ERROR_HEADER,
  republishOptions,
  toWire,
} from './rabbitmq-wire.js';

export interface Send {
  exchange: string;
  routingKey: string;
  body: Buffer;
  options: Options.Publish;
}

/** What a delivery needs from its driver to settle through the broker. */
export interface DeliveryContext {
  names: RabbitMqNames;
  guard: <T>(work: () => Promise<T>) => Promise<T>;
  assertRetryQueue(queue: string, groupQueue: string, bucketMs: number): Promise<void>;
  confirmedPublish(sends: readonly Send[]): Promise<void>;
}

/**
 * One delivery, settled once. Retry and dead-letter publish a copy with a confirm and only
 * then ack the original: a crash in between duplicates the message, never loses it.
 */
export function createDelivery(
  context: DeliveryContext,
  channel: Channel,
  raw: ConsumeMessage,
  destination: string,
  group: string,
  onSettled: () => void,
): Delivery {
  const headers = (raw.properties.headers ?? {}) as Record<string, unknown>;
  const wire = toWire(raw.content, raw.properties);
  const { message, decodeError } = tryDecodeBinary(wire, CE_PREFIX);
  const attempt = headerNumber(headers, ATTEMPT_HEADER) ?? 1;
  const firstFailureAt = headerDate(headers, FIRST_FAILURE_HEADER);
  let settled = false;
  const settle = async (work: () => Promise<void> | void) => {
    if (settled) throw alreadySettled(message);
    settled = true;
    try {
      await context.guard(async () => work());
    } finally {
      onSettled();
    }
  };
  return {
    message,
    decodeError,
    raw: wire,
    attempt,
    firstFailureAt,
    ack: () => settle(() => channel.ack(raw)),
    release: () => settle(() => channel.nack(raw, false, true)),
    retry: (delayMs, failure) =>
      settle(async () => {
        const bucket = retryBucket(delayMs);
        const queue = context.names.retryQueue(destination, group, bucket);
        await context.assertRetryQueue(queue, context.names.queue(destination, group), bucket);
        await context.confirmedPublish([
          {
            exchange: '',
            routingKey: queue,
            body: raw.content,
            options: republishOptions(raw.properties, {
              [ATTEMPT_HEADER]: attempt + 1,
              [FIRST_FAILURE_HEADER]: (firstFailureAt ?? failure.at).toISOString(),
              [LAST_ERROR_HEADER]: failure.error.slice(0, 1_000),
            }),
          },
        ]);
        channel.ack(raw);
      }),
    deadLetter: (failure: FailureInfo) =>
      settle(async () => {
        await context.confirmedPublish([
          {
            exchange: context.names.deadLetterExchange(),
            routingKey: deadLetterRoute(destination, group),
            body: raw.content,
            options: republishOptions(raw.properties, {
              [FAILURE_HEADER]: failureHeader(failure),
              [DEAD_LETTER_ID_HEADER]: newId(),
              [DEAD_LETTERED_AT_HEADER]: new Date().toISOString(),
            }),
          },
        ]);
        channel.ack(raw);
      }),
  };
}
