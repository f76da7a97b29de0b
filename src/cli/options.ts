import { InvalidArgumentError } from 'commander';

/**
 * Parsers for numeric flags. Commander reports their `InvalidArgumentError` as a usage error
 * naming the flag, so `--limit abc` fails before any database is opened.
 */
export function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected a whole number >= ${min}.`);
    }
    return n;
  };
}

/** The options every command shares, set on the program itself. */
export interface GlobalOptions {
  db: string;
  json?: boolean;
  schema?: string;
}
