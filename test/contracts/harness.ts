import type { EventStore, EventStoreOptions, SnapshotStore } from 'causeway';

/** One backend under test. Every contract suite takes one of these and nothing else. */
export interface EventStoreHarness {
  /** Shown in test names: `memory`, `sqlite`, `postgres`. */
  readonly name: string;
  /** A fresh, empty store with its own data (own file, own schema…). */
  create(options?: EventStoreOptions): Promise<StoreUnderTest>;
  /** Removes everything the harness created. */
  cleanup(): Promise<void>;
}

export interface StoreUnderTest {
  store: EventStore;
  snapshots: SnapshotStore;
  /**
   * Another store over the same data, as a restarted process would open it. Used for
   * checkpoint-resume tests; the caller closes the original first when it simulates a crash.
   */
  reopen(options?: EventStoreOptions): Promise<EventStore>;
}
