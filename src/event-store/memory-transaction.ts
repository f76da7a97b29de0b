/**
 * The "transaction" the in-memory store hands to inline projections: they stage their
 * changes and register them here; the store runs them only once the append commits.
 */
export class MemoryTransaction {
  readonly #onCommit: (() => void)[] = [];

  onCommit(apply: () => void): void {
    this.#onCommit.push(apply);
  }

  commit(): void {
    for (const apply of this.#onCommit) apply();
  }
}

/** Serializes async critical sections (an append whose inline projections await). */
export class AsyncLock {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn, fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
