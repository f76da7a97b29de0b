/** Opens the event store and projection store the example runs on. */
import {
  createMemoryEventStore,
  MemoryProjectionStore,
  type EventStore,
  type ProjectionStore,
} from 'causeway';

export interface Backend {
  store: EventStore;
  projections: ProjectionStore;
  close(): Promise<void>;
}

export async function openBackend(target?: string): Promise<Backend> {
  if (target === undefined || target === 'memory') {
    const store = createMemoryEventStore();
    return { store, projections: new MemoryProjectionStore(), close: () => store.close() };
  }
  throw new Error(`Unsupported backend "${target}"`);
}
