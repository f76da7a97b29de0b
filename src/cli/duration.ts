import { InvalidArgumentError } from 'commander';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * A point in time given as an age (`30m`, `12h`, `7d`, `2w`: that long before now) or as an
 * ISO-8601 date or timestamp. Commander reports the `InvalidArgumentError` as a usage error.
 */
export function pointInTime(now: () => number = Date.now): (value: string) => Date {
  return (value) => {
    const age = /^(\d+)(ms|s|m|h|d|w)$/.exec(value.trim());
    if (age) {
      const ms = Number(age[1]) * UNIT_MS[age[2]!]!;
      if (Number.isSafeInteger(ms)) return new Date(now() - ms);
    } else if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())) {
      const time = Date.parse(value.trim());
      if (!Number.isNaN(time)) return new Date(time);
    }
    throw new InvalidArgumentError(
      'expected an age like 30m, 12h, 7d or 2w, or an ISO date like 2025-01-31 or 2025-01-31T12:00:00Z.',
    );
  };
}
