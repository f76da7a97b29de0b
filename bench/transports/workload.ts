import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { newId } from 'causeway';

/**
 * What every transport contestant (raw client, Causeway) is asked to do, so the two differ
 * only in the code under test: the same payloads, batch sizes, prefetch and in-flight window.
 */

/** One side of a comparison on one backend, opened once per case on fresh names. */
export interface TransportContestant {
  /** Publishes one message and resolves once the broker (or the COMMIT) confirmed it. */
  publishOne(i: number): Promise<void>;
  /** Publishes `size` messages and resolves once all are confirmed. */
  publishBatch(i: number, size: number): Promise<void>;
  /**
   * Publishes `count` messages in confirmed batches to a destination this contestant consumes
   * (handler → ack), keeping at most `IN_FLIGHT` unhandled; resolves once all were handled.
   */
  endToEnd(count: number): Promise<EndToEndRound>;
  close(): Promise<void>;
}

export type TransportEntrant =
  { label: string; open: () => Promise<TransportContestant> } | { reason: string };

export interface EndToEndRound {
  units: number;
  elapsedMs: number;
  /** Publish call → handler, per message, in ms. */
  latencies: number[];
}

export const MESSAGE_TYPE = 'ItemAdded';
export const BATCH_SIZE = 100;
/** Causeway's defaults (concurrency 8, prefetch 2 × 8); the raw consumers get the same credit. */
export const CONCURRENCY = 8;
export const PREFETCH = 16;
/** The publisher waits while this many messages are published but not yet handled. */
export const IN_FLIGHT = 2 * BATCH_SIZE;
/** A round that has not finished after this long has lost messages: fail it, do not hang. */
const ROUND_TIMEOUT_MS = 120_000;

/** The message body: a small domain payload (~130 bytes of JSON) plus the publish time. */
export interface Payload {
  orderId: string;
  sku: string;
  quantity: number;
  unitPrice: number;
  currency: string;
  seq: number;
  /** `performance.now()` when the publish was called (same process as the handler). */
  sentAt: number;
}

export function payload(i: number): Payload {
  return {
    orderId: `order-${i % 1000}`,
    sku: `SKU-${(i * 31) % 10_000}`,
    quantity: 1 + (i % 5),
    unitPrice: 19.99,
    currency: 'EUR',
    seq: i,
    sentAt: performance.now(),
  };
}

export function payloads(first: number, size: number): Payload[] {
  return Array.from({ length: size }, (_, k) => payload(first + k));
}

/**
 * The CloudEvents attributes Causeway sends with every message (binary mode), built by hand:
 * the raw side carries the same information in the same headers, as the event-store
 * baselines carry the same columns, so the ratio measures Causeway's code, not the envelope.
 * Ids are UUIDv7 like Causeway's.
 */
export function cloudEventHeaders(prefix: string): Record<string, string> {
  return {
    [`${prefix}specversion`]: '1.0',
    [`${prefix}id`]: newId(),
    [`${prefix}source`]: 'causeway',
    [`${prefix}type`]: MESSAGE_TYPE,
    [`${prefix}time`]: new Date().toISOString(),
  };
}

/** A name no other run (or helper sharing the services) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * Counts what the consumer handled and lets the publisher wait for a count. Handlers call
 * `receive` with the message's `sentAt`; one tally lives as long as its contestant.
 */
export class Tally {
  #handled = 0;
  #latencies: number[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  receive(body: { sentAt: number }): void {
    this.#latencies.push(performance.now() - body.sentAt);
    this.#handled++;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.#handled < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  get handled(): number {
    return this.#handled;
  }

  /** Resolves once `count` messages were handled since the last `reset`. */
  reached(count: number): Promise<void> {
    if (this.#handled >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Starts a round: forgets the counts and latencies of the previous one. */
  reset(): number[] {
    const latencies = this.#latencies;
    this.#handled = 0;
    this.#latencies = [];
    return latencies;
  }
}

/**
 * One end-to-end round, the same loop for every contestant: publish `count` messages in
 * confirmed batches of `BATCH_SIZE`, never more than `IN_FLIGHT` ahead of the handler, and
 * wait until the handler saw them all.
 */
export async function endToEndRound(
  tally: Tally,
  count: number,
  publish: (messages: Payload[]) => Promise<void>,
): Promise<EndToEndRound> {
  tally.reset();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `end-to-end round: ${tally.handled} of ${count} messages handled after ${ROUND_TIMEOUT_MS / 1000} s`,
          ),
        ),
      ROUND_TIMEOUT_MS,
    );
  });
  try {
    const run = async () => {
      for (let published = 0; published < count;) {
        await tally.reached(published - IN_FLIGHT + BATCH_SIZE);
        const size = Math.min(BATCH_SIZE, count - published);
        await publish(payloads(published, size));
        published += size;
      }
      await tally.reached(count);
    };
    await Promise.race([run(), timeout]);
  } finally {
    clearTimeout(timer);
  }
  const elapsedMs = performance.now() - started;
  return { units: count, elapsedMs, latencies: tally.reset() };
}

/** The `p`-th percentile (0-100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
