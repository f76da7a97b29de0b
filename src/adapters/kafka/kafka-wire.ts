import type { WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo } from '../../messaging/message.js';

/** The Kafka CloudEvents binding (binary mode) prefixes attributes with `ce_`. */
export const CE_PREFIX = 'ce_';

/**
 * Headers the driver adds; the `causeway-` prefix keeps them apart from the CloudEvent's
 * attributes, so they never leak into a decoded message.
 */
export const HEADERS = {
  /** The attempt this copy is (absent: 1). Written on the retry topic. */
  attempt: 'causeway-attempt',
  /** When the message first failed (ISO time), carried from retry to retry. */
  firstFailureAt: 'causeway-first-failure-at',
  /** The retry is not handed out before this time (epoch milliseconds). */
  notBefore: 'causeway-not-before',
  /** The error of the last failed attempt (for people reading the retry topic). */
  lastError: 'causeway-last-error',
  /** The whole `FailureInfo` as JSON on a dead letter. */
  failure: 'causeway-failure',
  reason: 'causeway-reason',
  errorClass: 'causeway-error-class',
  attempts: 'causeway-attempts',
  destination: 'causeway-destination',
  group: 'causeway-group',
  deadLetteredAt: 'causeway-dead-lettered-at',
} as const;

/** The message as it travelled, without what the driver added for retries or dead letters. */
export function originalHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !name.startsWith('causeway-')),
  );
}

/** Kafka headers (string-deserialized) as a record; a repeated header keeps its last value. */
export function readHeaders(source: Map<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of source ?? []) out[name] = value;
  return out;
}

/** The dead letter of a message: the original headers and body, plus the failure as headers. */
export function deadLetterWire(raw: WireMessage, failure: FailureInfo, at: Date): WireMessage {
  return {
    headers: {
      ...originalHeaders(raw.headers),
      [HEADERS.reason]: failure.reason,
      [HEADERS.errorClass]: failure.errorClass,
      [HEADERS.attempts]: String(failure.attempts),
      [HEADERS.destination]: failure.destination,
      [HEADERS.group]: failure.group,
      [HEADERS.deadLetteredAt]: at.toISOString(),
      // Kafka headers are bytes: the JSON keeps a multi-line stack trace as it was.
      [HEADERS.failure]: JSON.stringify(failure),
    },
    body: raw.body,
  };
}
