/**
 * A bounded hand-off from a producer that pushes (a subscription handler, a broker's delivery
 * callback) to the task, which pulls one record at a time. A producer that can wait (a
 * subscription handler) awaits `push`, so a slow topology slows the reader down instead of
 * buffering the whole log; one that cannot (a broker callback) is bounded by its prefetch.
 */
export class Handoff<T> {
  #items: T[] = [];
  #closed = false;
  #error: unknown;
  #wakeTaker: (() => void) | undefined;
  #spaceWaiters: (() => void)[] = [];

  constructor(private readonly capacity: number) {}

  /** Queues `item`; the returned promise settles once the queue has room again. */
  push(item: T): Promise<void> {
    this.#items.push(item);
    this.#wakeTaker?.();
    if (this.#items.length < this.capacity || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#spaceWaiters.push(resolve));
  }

  /** No more items: the taker ends after the queued ones, or throws `error` if given. */
  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    this.#wakeTaker?.();
    this.#releaseProducers();
  }

  /** Items queued but never taken (a stopped reader gives them back to their broker). */
  drainRemaining(): T[] {
    const rest = this.#items;
    this.#items = [];
    this.#releaseProducers();
    return rest;
  }

  /** Yields items in order until closed (or `signal` aborts); rethrows a close error. */
  async *take(signal: AbortSignal | undefined): AsyncGenerator<T> {
    const onAbort = () => this.#wakeTaker?.();
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        if (signal?.aborted) return;
        const item = this.#items.shift();
        if (item !== undefined) {
          if (this.#items.length < this.capacity) this.#releaseProducers();
          yield item;
          continue;
        }
        if (this.#closed) {
          if (this.#error !== undefined) throw this.#error;
          return;
        }
        await new Promise<void>((resolve) => (this.#wakeTaker = resolve));
        this.#wakeTaker = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #releaseProducers(): void {
    const waiters = this.#spaceWaiters;
    this.#spaceWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
