import { ValidationError } from '../core/errors.js';

/**
 * Window definitions. Every window has a grace period: how long after its end (in event
 * time) records may still arrive and be counted. A window closes once the operator's stream
 * time (the highest event time it has seen) reaches `end + grace`; records for a closed
 * window are dead-lettered with the reason `late`, never added and never dropped silently.
 */
export type WindowSpec = TumblingWindows | HoppingWindows | SessionWindows;

/** Fixed-size, non-overlapping windows `[n·size, (n+1)·size)`. */
export interface TumblingWindows {
  readonly kind: 'tumbling';
  readonly size: number;
  readonly grace: number;
}

/** Fixed-size windows starting every `advance` ms; a record belongs to `size / advance` of them. */
export interface HoppingWindows {
  readonly kind: 'hopping';
  readonly size: number;
  readonly advance: number;
  readonly grace: number;
}

/**
 * Per-key activity sessions: records less than `gap` ms apart share a session; a record that
 * bridges two sessions merges them. A session is `[first event time, last event time]`.
 */
export interface SessionWindows {
  readonly kind: 'session';
  readonly gap: number;
  readonly grace: number;
}

/**
 * When a window emits: `final` (the default) once, when it closes; `update` after every
 * record that changes it (and nothing more at close).
 */
export type EmitMode = 'final' | 'update';

function positive(name: string, value: number, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ValidationError('Invalid window', [
      {
        path: [name],
        message: `must be a ${allowZero ? 'non-negative' : 'positive'} number of ms`,
      },
    ]);
  }
  return value;
}

/** Window constructors: `Windows.tumbling({ size: 60_000, grace: 5_000 })`. */
export const Windows = {
  tumbling(options: { size: number; grace?: number }): TumblingWindows {
    return {
      kind: 'tumbling',
      size: positive('size', options.size),
      grace: positive('grace', options.grace ?? 0, true),
    };
  },
  hopping(options: { size: number; advance: number; grace?: number }): HoppingWindows {
    const size = positive('size', options.size);
    const advance = positive('advance', options.advance);
    if (advance > size) {
      throw new ValidationError('Invalid window', [
        { path: ['advance'], message: 'must not exceed size (records would fall between windows)' },
      ]);
    }
    return { kind: 'hopping', size, advance, grace: positive('grace', options.grace ?? 0, true) };
  },
  session(options: { gap: number; grace?: number }): SessionWindows {
    return {
      kind: 'session',
      gap: positive('gap', options.gap),
      grace: positive('grace', options.grace ?? 0, true),
    };
  },
};

/** How far apart the starts of consecutive time windows are. */
export function windowStep(spec: TumblingWindows | HoppingWindows): number {
  return spec.kind === 'tumbling' ? spec.size : spec.advance;
}

/**
 * The start of the newest time window (`tumbling`, `hopping`) holding `timestamp`. With
 * `firstWindowStart` and `windowStep`, a plain loop visits every window of a record, oldest
 * first, without building a list or calling back (this runs once per record).
 */
export function lastWindowStart(spec: TumblingWindows | HoppingWindows, timestamp: number): number {
  return timestamp - mod(timestamp, windowStep(spec));
}

/** The start of the oldest time window holding `timestamp` (see `lastWindowStart`). */
export function firstWindowStart(
  spec: TumblingWindows | HoppingWindows,
  timestamp: number,
): number {
  const last = lastWindowStart(spec, timestamp);
  if (spec.kind === 'tumbling') return last;
  let first = last;
  while (first - spec.advance > timestamp - spec.size) first -= spec.advance;
  return first;
}

/** A modulo that stays non-negative for timestamps before 1970. */
function mod(value: number, by: number): number {
  return ((value % by) + by) % by;
}

/**
 * Join windows: a left record at `t` matches right records with the same key and a
 * timestamp in `[t - before, t + after]`. Records whose time is below the operator's
 * watermark (stream time − grace) are late.
 */
export interface JoinWindows {
  readonly before: number;
  readonly after: number;
  readonly grace: number;
}

/** `JoinWindows.of(5_000)` matches records at most 5 s apart either way. */
export const JoinWindows = {
  of(difference: number, options: { grace?: number } = {}): JoinWindows {
    const ms = positive('difference', difference, true);
    return { before: ms, after: ms, grace: positive('grace', options.grace ?? 0, true) };
  },
  between(options: { before: number; after: number; grace?: number }): JoinWindows {
    return {
      before: positive('before', options.before, true),
      after: positive('after', options.after, true),
      grace: positive('grace', options.grace ?? 0, true),
    };
  },
};
