import { MemoryOutboxStore, MemoryProcessStore } from 'causeway';
import type { ProcessStoreHarness } from '../contracts/process-store-harness.js';

/** The memory process store: one process, so "reopening" hands back the same store. */
export function memoryProcessHarness(): ProcessStoreHarness {
  return {
    name: 'memory',
    async create() {
      const outbox = new MemoryOutboxStore();
      const store = new MemoryProcessStore({ outbox });
      return {
        store,
        reopen: async () => store,
        outbox: async () =>
          (await outbox.claim('test-reader', 10_000, 60_000)).map(({ destination, message }) => ({
            destination,
            message,
          })),
        async close() {},
      };
    },
    async cleanup() {},
  };
}
