/**
 * Opens the event store and projection store the example runs on: in memory, in a SQLite
 * file, or in PostgreSQL. Events and read models always share one database, so a projection
 * batch commits its rows and its checkpoint in one transaction.
 */
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

export interface BackendOptions {
  /** PostgreSQL: the schema the example owns; dropped and created anew on open. */
  schema?: string;
}

export const EXAMPLE_SCHEMA = 'orders_example';

/** `memory` (the default), a `postgres://` URL, or else the path of a new SQLite file. */
export async function openBackend(
  target = 'memory',
  options: BackendOptions = {},
): Promise<Backend> {
  if (target === 'memory') {
    const store = createMemoryEventStore();
    return { store, projections: new MemoryProjectionStore(), close: () => store.close() };
  }
  if (/^postgres(ql)?:\/\//i.test(target))
    return openPostgres(target, options.schema ?? EXAMPLE_SCHEMA);
  return openSqlite(target);
}

/** Drivers are optional peers: each backend loads only its own adapter and driver. */
async function openSqlite(filename: string): Promise<Backend> {
  const { createSqliteEventStore, createSqliteProjectionStore } = await import('causeway/sqlite');
  const store = createSqliteEventStore({ filename });
  // The example registers its customers with `no_stream`: it needs a store without them.
  if ((await store.headPosition()) > 0) {
    await store.close();
    throw new Error(
      `${filename} already holds events; the example starts from an empty store: delete it or pass a new file`,
    );
  }
  // Its own connections to the same file: batches commit rows and checkpoint together.
  const projections = createSqliteProjectionStore({ filename });
  return {
    store,
    projections,
    close: async () => {
      await projections.close();
      await store.close();
    },
  };
}

async function openPostgres(connectionString: string, schema: string): Promise<Backend> {
  const [{ default: pg }, { createPostgresEventStore, createPostgresProjectionStore }] =
    await Promise.all([import('pg'), import('causeway/postgres')]);
  // One pool for both stores: fewer connections, and inline projections could share it.
  const pool = new pg.Pool({ connectionString, max: 4 });
  pool.on('error', () => undefined);
  try {
    // The schema belongs to the example alone, so each run starts from an empty one.
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    const store = await createPostgresEventStore({ pool, schema });
    const projections = await createPostgresProjectionStore({ pool, schema });
    return {
      store,
      projections,
      close: async () => {
        try {
          await projections.close();
          await store.close();
        } finally {
          await pool.end();
        }
      },
    };
  } catch (error) {
    await pool.end();
    throw error;
  }
}
