import { MessageTooLargeError, PublishRejectedError } from '../../core/errors.js';
import type { OutgoingWire } from './sqs-wire.js';

/** SQS and SNS take at most 10 entries per batch call. */
export const MAX_BATCH_ENTRIES = 10;
/** The classic SQS/SNS limit for one message, and for the sum of a batch: 256 KiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 262_144;

export interface SizeLimit {
  bytes: number;
  /** Named in the error, e.g. "the SQS message size limit". */
  name: string;
}

/** Refuses the whole call before anything is sent when one message is over the limit. */
export function assertSizes(
  destination: string,
  wires: readonly OutgoingWire[],
  limit: SizeLimit,
): void {
  for (const wire of wires)
    if (wire.size > limit.bytes)
      throw new MessageTooLargeError(
        destination,
        wire.messageId,
        wire.size,
        limit.bytes,
        limit.name,
      );
}

/**
 * Splits messages into batches of at most 10 entries whose sizes sum to at most the limit,
 * keeping their order (FIFO groups, and standard queues' best effort, depend on it).
 */
export function splitBatches(wires: readonly OutgoingWire[], maxBytes: number): OutgoingWire[][] {
  const batches: OutgoingWire[][] = [];
  let current: OutgoingWire[] = [];
  let bytes = 0;
  for (const wire of wires) {
    if (
      current.length === MAX_BATCH_ENTRIES ||
      (current.length > 0 && bytes + wire.size > maxBytes)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(wire);
    bytes += wire.size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** One entry the broker refused in a batch call. */
export interface BatchFailure {
  /** The entry's index in the batch passed to `send`. */
  index: number;
  code: string;
  message: string;
  /** The broker says the entry itself is wrong: sending it again cannot help. */
  senderFault: boolean;
}

/** The failed entries of an SQS or SNS batch answer (`Id` is the entry's index). */
export function toBatchFailures(
  failed: readonly {
    Id?: string | undefined;
    Code?: string | undefined;
    Message?: string | undefined;
    SenderFault?: boolean | undefined;
  }[],
): BatchFailure[] {
  return failed.map((f) => ({
    index: Number(f.Id),
    code: f.Code ?? 'Unknown',
    message: f.Message ?? '',
    senderFault: f.SenderFault ?? false,
  }));
}

const RETRY_DELAYS_MS = [100, 400, 1_600];

/**
 * Sends every batch in order, one call at a time (parallel calls would reorder a queue's
 * messages). Entries the broker refused for its own reasons (throttling, internal errors) are
 * sent again, up to three times with a growing pause; entries it refused as invalid, or that
 * still fail, end the publish with a `PublishRejectedError` naming each — never dropped silently.
 */
export async function sendBatches(
  destination: string,
  batches: readonly OutgoingWire[][],
  send: (batch: readonly OutgoingWire[]) => Promise<BatchFailure[]>,
): Promise<void> {
  const refused: { messageId: string | undefined; code: string; message: string }[] = [];
  for (const batch of batches) {
    let pending: readonly OutgoingWire[] = batch;
    for (let round = 0; pending.length > 0; round++) {
      const failures = await send(pending);
      const retryable = failures.filter((f) => !f.senderFault);
      for (const failure of failures) {
        if (failure.senderFault || round >= RETRY_DELAYS_MS.length)
          refused.push({
            messageId: pending[failure.index]?.messageId,
            code: failure.code,
            message: failure.message,
          });
      }
      if (round >= RETRY_DELAYS_MS.length || retryable.length === 0) break;
      pending = retryable.map((f) => pending[f.index]!);
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[round]));
    }
  }
  if (refused.length > 0) throw new PublishRejectedError(destination, refused);
}
