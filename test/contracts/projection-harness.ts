import type { EventStore, EventStoreOptions, ProjectionStore } from 'causeway';

/** One backend for projections: an event store and a projection store in the same database. */
export interface ProjectionHarness {
  readonly name: string;
  /** A fresh database. `options.inline` wires inline projections into the event store. */
  create(options?: EventStoreOptions): Promise<ProjectionBackend>;
  cleanup(): Promise<void>;
}

export interface ProjectionBackend {
  store: EventStore;
  projections: ProjectionStore;
  /** A second event store + projection store over the same database (another process's view). */
  reopen(options?: EventStoreOptions): Promise<{ store: EventStore; projections: ProjectionStore }>;
  close(): Promise<void>;
}
