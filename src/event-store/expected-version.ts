import { ConcurrencyError, StreamDeletedError, ValidationError } from '../core/errors.js';
import type { ExpectedVersion, StreamState } from './types.js';

/** What a driver knows about a stream inside its write transaction. */
export interface StreamHead {
  version: number;
  state: StreamState;
}

export function assertValidExpectedVersion(expected: unknown): asserts expected is ExpectedVersion {
  const ok =
    expected === 'any' ||
    expected === 'no_stream' ||
    expected === 'stream_exists' ||
    (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0);
  if (!ok) {
    throw new ValidationError('Invalid append options', [
      {
        path: ['expectedVersion'],
        message: `must be a version number >= 0, 'any', 'no_stream' or 'stream_exists'; got ${JSON.stringify(expected)}`,
      },
    ]);
  }
}

/**
 * The single rule every adapter applies, inside its transaction, before writing.
 * A soft-deleted stream counts as missing: `'no_stream'`, `0` and `'any'` recreate it (its
 * numbering continues after the last version ever written); any other number conflicts,
 * because whoever read that version read a stream that has since been deleted.
 */
export function checkExpectedVersion(
  streamId: string,
  expected: ExpectedVersion,
  head: StreamHead | undefined,
): void {
  if (head?.state === 'tombstoned') throw new StreamDeletedError(streamId);
  // A stream that only has metadata (set before its first event) does not exist yet.
  const exists = head !== undefined && head.state === 'active' && head.version > 0;
  const version = head?.version ?? 0;
  const actual = exists ? version : 0;
  switch (expected) {
    case 'any':
      return;
    case 'no_stream':
      if (exists) throw new ConcurrencyError(streamId, expected, actual);
      return;
    case 'stream_exists':
      if (!exists) throw new ConcurrencyError(streamId, expected, actual);
      return;
    default:
      if (expected === 0 ? exists : version !== expected || !exists) {
        throw new ConcurrencyError(streamId, expected, actual);
      }
  }
}
