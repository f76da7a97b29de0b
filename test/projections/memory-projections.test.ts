import { createEventStore, MemoryEventStoreDriver, MemoryProjectionStore } from 'causeway';
import { projectionContract } from '../contracts/projection.contract.js';

projectionContract({
  name: 'memory',
  async create(options) {
    const driver = new MemoryEventStoreDriver();
    const projections = new MemoryProjectionStore();
    const store = createEventStore(driver, options);
    return {
      store,
      projections,
      reopen: async (again) => ({ store: createEventStore(driver, again), projections }),
      close: () => store.close(),
    };
  },
  async cleanup() {},
});
