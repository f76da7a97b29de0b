import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEventStore, type EventStore, type EventStoreOptions } from 'causeway';
import {
  createSqliteProjectionStore,
  SqliteEventStoreDriver,
  type SqliteProjectionStore,
} from 'causeway/sqlite';
import { projectionContract } from '../contracts/projection.contract.js';

const contractRoot = mkdtempSync(join(tmpdir(), 'causeway-sqlite-projections-contract-'));
let contractFiles = 0;

/** An event store and a projection store on one file, each with its own connections. */
function openBackend(filename: string, options?: EventStoreOptions) {
  const driver = new SqliteEventStoreDriver({ filename });
  const store = createEventStore(driver, options);
  const projections = createSqliteProjectionStore({ database: driver.database });
  return { store, projections };
}

projectionContract({
  name: 'sqlite',
  async create(options) {
    const filename = join(contractRoot, `projections-${++contractFiles}.db`);
    const opened: { store: EventStore; projections: SqliteProjectionStore }[] = [];
    const open = (again?: EventStoreOptions) => {
      const backend = openBackend(filename, again);
      opened.push(backend);
      return backend;
    };
    const { store, projections } = open(options);
    return {
      store,
      projections,
      // Another process: new connections on the same file.
      reopen: async (again) => open(again),
      close: async () => {
        for (const b of opened.splice(0).reverse()) {
          await b.store.close();
          await b.projections.close();
        }
      },
    };
  },
  async cleanup() {
    rmSync(contractRoot, { recursive: true, force: true });
  },
});
