import { TransportSetupError } from '../../core/errors.js';

/**
 * A stream, consumer group or script could not be set up as configured (a key of another type
 * in the way, a server too old for streams, a refused `XGROUP CREATE`); `cause` is Redis' answer.
 */
export class RedisSetupError extends TransportSetupError {}

/**
 * Names are escaped so `:` stays a separator and `{`/`}` cannot open a hash tag of their own:
 * `a:b` + `c` and `a` + `b:c` never share a key.
 */
export function escapeName(name: string): string {
  return name.replace(/[%:{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function unescapeName(name: string): string {
  return decodeURIComponent(name);
}

/**
 * Every key of one destination shares the hash tag `{<destination>}`, so the scripts and
 * transactions that touch several of them (stream, retry stream, delayed set, dead letters)
 * stay on one slot of a Redis Cluster.
 */
export interface DestinationKeys {
  /** The destination's stream: every group reads it. */
  stream: string;
  /** Dead letters of every group of the destination. */
  deadLetters: string;
  /** A group's own stream of retried and replayed messages (only that group reads it). */
  retry(group: string): string;
  /** A group's delayed retries: a sorted set scored by due time (ms). */
  delayed(group: string): string;
}

export function destinationKeys(prefix: string, destination: string): DestinationKeys {
  const base = `${prefix}:{${escapeName(destination)}}`;
  return {
    stream: `${base}:stream`,
    deadLetters: `${base}:dead-letters`,
    retry: (group) => `${base}:retry:${escapeName(group)}`,
    delayed: (group) => `${base}:delayed:${escapeName(group)}`,
  };
}

/** The set of destinations a prefix has published to or consumed (for dead-letter listing). */
export const destinationsKey = (prefix: string) => `${prefix}:destinations`;

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A Redis error reply starting with `code` (`NOGROUP`, `BUSYGROUP`, `NOSCRIPT`, `WRONGTYPE`…). */
export function isReplyError(error: unknown, code: string): boolean {
  return error instanceof Error && error.message.startsWith(`${code} `);
}
