import { ManualClock, MemorySagaStore } from 'causeway';
import { sagaStoreContract } from '../contracts/saga-store.contract.js';

sagaStoreContract({
  name: 'memory',
  async create() {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const store = new MemorySagaStore({ clock });
    return {
      store,
      advance: async (ms) => clock.advance(ms),
      reopen: async () => store,
      close: async () => undefined,
    };
  },
  async cleanup() {},
});
