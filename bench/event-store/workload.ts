/**
 * What every event-store contestant (raw driver, Causeway, Emmett) is asked to do, so the
 * three differ only in the code under test: same stream names, same payloads, same page size.
 */

/** One side of a comparison, opened on fresh storage for each case. */
export interface Contestant {
  /** Appends one event to `streamFor(writer, i)` in its own transaction. */
  appendOne(writer: number, i: number): Promise<void>;
  /** Appends `size` events to `streamFor(writer, i)` in one transaction. */
  appendBatch(writer: number, i: number, size: number): Promise<void>;
  /** Untimed setup for reads: `count` events in appends of `SEED_BATCH`. */
  seed(count: number): Promise<void>;
  /** Reads the whole global log from the start, `READ_PAGE_SIZE` events per round trip; returns how many. */
  readAll(): Promise<number>;
  close(): Promise<void>;
}

/** How to open a contestant, or why it cannot run. */
export type Entrant = { open: () => Promise<Contestant>; label: string } | { reason: string };

export const EVENT_TYPE = 'ItemAdded';
export const EVENT_SOURCE = 'urn:causeway:bench';
export const CONTENT_TYPE = 'application/json';
/** Each writer cycles through this many streams, so appends hit existing streams mostly. */
export const STREAMS_PER_WRITER = 100;
/** Causeway's default `readAll` page; Emmett's batch reader and the baselines use the same. */
export const READ_PAGE_SIZE = 500;
export const SEED_BATCH = 500;

export function streamFor(writer: number, i: number): string {
  return `order-w${writer}s${i % STREAMS_PER_WRITER}`;
}

/** A small, typical domain payload (~100 bytes of JSON). */
export function eventData(writer: number, i: number, k = 0): Record<string, unknown> {
  return {
    orderId: streamFor(writer, i),
    sku: `SKU-${(i * 31 + k) % 10_000}`,
    quantity: 1 + ((i + k) % 5),
    unitPrice: 19.99,
    currency: 'EUR',
  };
}

/**
 * The last version each stream reached, so appends can pass an exact expected version
 * (the usual command-handler path) and the raw baseline can number its rows without a read.
 * Streams are owned by one writer each, so concurrent writers never race on an entry.
 */
export class StreamVersions {
  readonly #versions = new Map<string, number>();

  /** Reserves `count` versions on `stream`; returns the version before them (0 = new stream). */
  take(stream: string, count: number): number {
    const current = this.#versions.get(stream) ?? 0;
    this.#versions.set(stream, current + count);
    return current;
  }
}

export function seedStream(batch: number): string {
  return `seed-${batch}`;
}

/** Runs `append(stream, size)` for every seed batch that makes up `count` events. */
export async function seedInBatches(
  count: number,
  append: (stream: string, size: number) => Promise<void>,
): Promise<void> {
  for (let batch = 0, left = count; left > 0; batch++, left -= SEED_BATCH) {
    await append(seedStream(batch), Math.min(SEED_BATCH, left));
  }
}
