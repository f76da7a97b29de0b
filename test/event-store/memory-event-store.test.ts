import { createEventStore, MemoryEventStoreDriver, MemorySnapshotStore } from 'causeway';
import { eventStoreContract } from '../contracts/event-store.contract.js';

eventStoreContract({
  name: 'memory',
  async create(options) {
    const driver = new MemoryEventStoreDriver(options?.clock);
    const snapshots = new MemorySnapshotStore();
    return {
      store: createEventStore(driver, options),
      snapshots,
      // A "restart" of an in-memory store keeps the driver (the data) and builds a new store on it.
      reopen: async (again) => createEventStore(driver, again ?? options),
    };
  },
  async cleanup() {},
});
