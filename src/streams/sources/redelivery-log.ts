import type { KeyValueStore, StateBackend } from '../stores.js';

/** How many record identities a source's redelivery log keeps by default. */
export const DEFAULT_REDELIVERY_CAPACITY = 10_000;

/**
 * The identities of a source's most recent records, kept in two key-value stores of the
 * state backend, so they commit in the same unit as the state the records changed. A broker
 * redelivers what was not acknowledged, and a task acknowledges right after each commit, so
 * only the last few commits' records can come back: a ring of the latest `capacity`
 * identities bounds the state however long the stream runs.
 */
export class RedeliveryLog {
  readonly #slotOf: KeyValueStore<string, number>;
  readonly #ring: KeyValueStore<number, string>;
  #next: number;

  constructor(
    backend: StateBackend,
    source: string,
    private readonly capacity = DEFAULT_REDELIVERY_CAPACITY,
  ) {
    this.#slotOf = backend.keyValueStore<string, number>(`${source}#redelivery-ids`);
    this.#ring = backend.keyValueStore<number, string>(`${source}#redelivery-ring`);
    // Slot -1 holds the next sequence number, so the ring resumes where the last commit left it.
    this.#next = Number(this.#ring.get(-1) ?? 0);
  }

  /** Whether a record with this identity was already processed (and not yet forgotten). */
  seen(id: string): boolean {
    return this.#slotOf.get(id) !== undefined;
  }

  /** Remembers `id`, forgetting the oldest identity once the ring is full. */
  remember(id: string): void {
    const slot = this.#next % this.capacity;
    const evicted = this.#ring.get(slot);
    if (evicted !== undefined) this.#slotOf.delete(evicted);
    this.#ring.put(slot, id);
    this.#slotOf.put(id, slot);
    this.#next++;
    this.#ring.put(-1, String(this.#next));
  }
}
