import type { ChannelModel, GetMessage } from 'amqplib';
import type { WireMessage } from '../../messaging/binary-codec.js';
import type { DeadLetterReason, FailureInfo } from '../../messaging/message.js';
import { DEAD_LETTER_QUEUE_ARGUMENTS, type RabbitMqNames } from './rabbitmq-topology.js';
import { FAILURE_HEADER, headerNumber, toWire } from './rabbitmq-wire.js';

/** One message in a group's dead-letter queue, with why it got there. */
export interface RabbitMqDeadLetter {
  /** The AMQP message id (the CloudEvent id for messages we published). */
  messageId: string | undefined;
  destination: string;
  group: string;
  message: WireMessage;
  failure: FailureInfo;
}

/**
 * Reads a dead-letter queue without consuming it: every message is fetched unacknowledged
 * on a channel of its own, and closing that channel hands them all back to the queue.
 */
export async function readDeadLetters(
  connection: ChannelModel,
  names: RabbitMqNames,
  destination: string,
  group: string,
  deliveryLimit: number,
): Promise<RabbitMqDeadLetter[]> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined); // reported by the failing call itself
  try {
    const queue = names.deadLetterQueue(destination, group);
    await channel.assertQueue(queue, { durable: true, arguments: DEAD_LETTER_QUEUE_ARGUMENTS });
    const letters: RabbitMqDeadLetter[] = [];
    for (;;) {
      const got = await channel.get(queue, { noAck: false });
      if (got === false) break;
      letters.push(toDeadLetter(got, destination, group, deliveryLimit));
    }
    return letters.sort(
      (a, b) => a.failure.lastFailureAt.getTime() - b.failure.lastFailureAt.getTime(),
    );
  } finally {
    await channel.close().catch(() => undefined);
  }
}

function toDeadLetter(
  got: GetMessage,
  destination: string,
  group: string,
  deliveryLimit: number,
): RabbitMqDeadLetter {
  const headers = (got.properties.headers ?? {}) as Record<string, unknown>;
  const recorded = headers[FAILURE_HEADER];
  const text = Buffer.isBuffer(recorded) ? recorded.toString('utf8') : recorded;
  const failure =
    typeof text === 'string'
      ? parseFailure(text)
      : brokerFailure(headers, destination, group, deliveryLimit);
  return {
    messageId: typeof got.properties.messageId === 'string' ? got.properties.messageId : undefined,
    destination,
    group,
    message: toWire(got.content, got.properties),
    failure,
  };
}

function parseFailure(text: string): FailureInfo {
  const raw = JSON.parse(text) as Omit<FailureInfo, 'firstFailureAt' | 'lastFailureAt'> & {
    firstFailureAt: string;
    lastFailureAt: string;
    errorStack: string | null;
  };
  return {
    ...raw,
    errorStack: raw.errorStack ?? undefined,
    firstFailureAt: new Date(raw.firstFailureAt),
    lastFailureAt: new Date(raw.lastFailureAt),
  };
}

/** The broker itself dead-lettered the message: it hit the queue's delivery limit. */
function brokerFailure(
  headers: Record<string, unknown>,
  destination: string,
  group: string,
  deliveryLimit: number,
): FailureInfo {
  const now = new Date();
  const reason: DeadLetterReason = 'max_attempts';
  return {
    reason,
    errorClass: 'DeliveryLimitExceeded',
    errorMessage: `Delivered more than ${deliveryLimit} times without being settled (the consumer crashed or lost its connection each time)`,
    errorStack: undefined,
    attempts: headerNumber(headers, 'x-delivery-count') ?? deliveryLimit + 1,
    firstFailureAt: now,
    lastFailureAt: now,
    destination,
    group,
  };
}
