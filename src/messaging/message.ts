import type { CloudEvent } from '../core/envelope.js';

/** What a producer publishes: a CloudEvent whose attributes all have defaults but `type`. */
export interface OutgoingMessage<T = unknown> {
  type: string;
  data: T;
  /** Defaults to a fresh UUIDv7; consumers de-duplicate on it. */
  id?: string;
  source?: string;
  subject?: string;
  time?: Date;
  datacontenttype?: string;
  correlationid?: string;
  causationid?: string;
  traceparent?: string;
  /** Messages with the same key are handled one at a time, in publish order. */
  partitionkey?: string;
  /** Further CloudEvents extension attributes (lower-case names, string values). */
  extensions?: Record<string, string>;
}

/** A message as a handler receives it. */
export interface Message<T = unknown> extends CloudEvent<T> {
  extensions: Record<string, string>;
}

/** Why a message ended in the dead-letter queue. */
export type DeadLetterReason =
  /** The body or headers could not be decoded into a CloudEvent. */
  | 'undecodable'
  /** No handler knows the message's type. */
  | 'unknown_type'
  /** The data failed the type's schema. */
  | 'schema_violation'
  /** The handler threw a `PermanentError` (or another error classified as permanent). */
  | 'permanent_error'
  /** Every attempt of the retry policy failed. */
  | 'max_attempts';

/**
 * The first-failure time a broker's header or property carried, or `undefined` when it is
 * missing or not a date: a foreign producer's malformed header must not make every later
 * retry of the message fail (an invalid Date throws when it is written out again).
 */
export function failureTime(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const date = new Date(text);
  return Number.isFinite(date.getTime()) ? date : undefined;
}

/** What a dead letter records besides the original message. */
export interface FailureInfo {
  reason: DeadLetterReason;
  errorClass: string;
  errorMessage: string;
  errorStack: string | undefined;
  attempts: number;
  firstFailureAt: Date;
  lastFailureAt: Date;
  destination: string;
  group: string;
}
