import {
  ChangeMessageVisibilityCommand,
  SendMessageCommand,
  type Message as SqsMessage,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { tryDecodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo } from '../../messaging/message.js';
import { alreadySettled, type Delivery } from '../../messaging/transport.js';
import { CE_PREFIX, fromAttributes, outgoing } from './sqs-wire.js';

/** The whole `FailureInfo` as JSON, on dead letters the runtime wrote. */
export const FAILURE_ATTRIBUTE = 'causeway-failure';
export const REASON_ATTRIBUTE = 'causeway-reason';
/** SQS keeps a message invisible for at most 12 hours. */
export const MAX_VISIBILITY_SECONDS = 43_200;
/** Stacks are cut so that a dead letter stays well within the size limit. */
const MAX_STACK_CHARS = 8_192;

export interface DeliveryScope {
  client: SQSClient;
  queueUrl: string;
  deadLetterUrl: string;
  fifo: boolean;
  /** Deletes the message (batched with other acks). */
  remove(receiptHandle: string): Promise<void>;
  /** Called before the settlement's own call; resolves once no heartbeat can overtake it. */
  settling(receiptHandle: string): Promise<void>;
}

/**
 * Wraps one received SQS message. The attempt is SQS's `ApproximateReceiveCount`; the first
 * failure time is read as the first receive time (SQS cannot attach data to a message in
 * flight), which is when the first failing attempt started.
 */
export function toDelivery(received: SqsMessage, scope: DeliveryScope): Delivery {
  const raw: WireMessage = {
    headers: fromAttributes(received.MessageAttributes),
    body: received.Body ?? '',
  };
  const { message, decodeError } = tryDecodeBinary(raw, CE_PREFIX);
  const system = received.Attributes ?? {};
  const attempt = Math.max(1, Number(system['ApproximateReceiveCount'] ?? 1));
  const firstReceived = Number(system['ApproximateFirstReceiveTimestamp']);
  const receipt = received.ReceiptHandle!;

  let done = false;
  const settle = async (work: () => Promise<void>) => {
    if (done) throw alreadySettled(message);
    done = true;
    await scope.settling(receipt);
    await work();
  };
  const makeVisibleIn = (seconds: number) =>
    scope.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: scope.queueUrl,
        ReceiptHandle: receipt,
        VisibilityTimeout: seconds,
      }),
    );

  return {
    message,
    decodeError,
    raw,
    attempt,
    firstFailureAt:
      attempt > 1 && Number.isFinite(firstReceived) ? new Date(firstReceived) : undefined,
    ack: () => settle(() => scope.remove(receipt)),
    // Visibility has whole-second resolution: the delay is rounded to the nearest second, so
    // sub-second backoffs come back at once (never later than a second past the policy).
    retry: (delayMs) =>
      settle(async () => {
        await makeVisibleIn(
          Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.round(delayMs / 1000))),
        );
      }),
    // SQS counts this receive anyway: an unstarted delivery given back at shutdown still adds
    // one to `ApproximateReceiveCount` (see the README's limits).
    release: () =>
      settle(async () => {
        await makeVisibleIn(0);
      }),
    deadLetter: (failure) =>
      settle(async () => {
        const wire = outgoing(
          deadLetterWire(raw, failure),
          received.MessageId!,
          received.MessageId,
        );
        await scope.client.send(
          new SendMessageCommand({
            QueueUrl: scope.deadLetterUrl,
            MessageBody: wire.body,
            MessageAttributes: wire.attributes,
            // Each letter is its own group, so listing never waits on a group in flight; the
            // SQS message id de-duplicates a letter written twice (crash before the delete).
            ...(scope.fifo
              ? {
                  MessageGroupId: wire.deduplicationId,
                  MessageDeduplicationId: wire.deduplicationId,
                }
              : {}),
          }),
        );
        await scope.remove(receipt);
      }),
  };
}

/** The original message as it travelled, plus the failure as attributes. */
function deadLetterWire(raw: WireMessage, failure: FailureInfo): WireMessage {
  const stack = failure.errorStack;
  const kept: FailureInfo = {
    ...failure,
    errorStack:
      stack !== undefined && stack.length > MAX_STACK_CHARS
        ? `${stack.slice(0, MAX_STACK_CHARS)}\n    … (cut)`
        : stack,
  };
  return {
    headers: {
      ...raw.headers,
      [REASON_ATTRIBUTE]: failure.reason,
      [FAILURE_ATTRIBUTE]: JSON.stringify(kept),
    },
    body: raw.body,
  };
}

/** Reads a dead letter's failure attribute back, with its dates. */
export function parseFailure(value: string | undefined): FailureInfo | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(value) as Omit<FailureInfo, 'firstFailureAt' | 'lastFailureAt'> & {
      firstFailureAt: string;
      lastFailureAt: string;
    };
    return {
      ...parsed,
      firstFailureAt: new Date(parsed.firstFailureAt),
      lastFailureAt: new Date(parsed.lastFailureAt),
    };
  } catch {
    return undefined;
  }
}
