import pg from 'pg';
import { newId, type EventStore } from 'causeway';
import { loadAdapter } from '../causeway.js';
import { loadDumbo, loadEmmettPostgres, type EmmettEvent } from '../emmett.js';
import { causewayContestant } from './causeway-contestant.js';
import {
  CONTENT_TYPE,
  EVENT_SOURCE,
  EVENT_TYPE,
  READ_PAGE_SIZE,
  StreamVersions,
  eventData,
  seedInBatches,
  streamFor,
  type Contestant,
  type Entrant,
} from './workload.js';

/**
 * PostgreSQL contestants: one database, one schema each, the server's own durability
 * (`synchronous_commit` as configured, recorded in the results). Every contestant gets a
 * pool of `POOL_SIZE` connections, so 8 concurrent writers never wait for a connection.
 */

export const POOL_SIZE = 8;
export const DEFAULT_PG_URL = 'postgres://postgres:postgres@127.0.0.1:5432/causeway';

const BASELINE_SCHEMA = 'bench_raw';
const CAUSEWAY_SCHEMA = 'bench_causeway';
const EMMETT_SCHEMA = 'bench_emmett';

export function pgUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['CAUSEWAY_PG_URL'] ?? DEFAULT_PG_URL;
}

function newPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  pool.on('error', () => undefined);
  return pool;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function recreateSchema(url: string, schema: string, create: boolean): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    if (create) await client.query(`CREATE SCHEMA ${schema}`);
  });
}

/** Checks the server answers and returns the settings every contestant runs under. */
export async function postgresSettings(url: string): Promise<Record<string, string>> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{
      version: string;
      sc: string;
      fsync: string;
      wal_sync: string;
    }>(
      `SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS sc,
              current_setting('fsync') AS fsync, current_setting('wal_sync_method') AS wal_sync`,
    );
    const row = rows[0];
    return {
      'postgres.server': row?.version ?? 'unknown',
      'postgres.durability': `synchronous_commit=${row?.sc}, fsync=${row?.fsync}, wal_sync_method=${row?.wal_sync} (server settings, same for all)`,
      'postgres.pool': `${POOL_SIZE} connections per contestant (Emmett: dumbo's pool, pg default max 10)`,
    };
  });
}

/** Causeway's `causeway_events` shape (json payloads, "C" collation), without its streams table. */
const BASELINE_DDL = `
  CREATE TABLE ${BASELINE_SCHEMA}.events (
    global_position bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    stream_id text COLLATE "C" NOT NULL,
    stream_version bigint NOT NULL,
    type text NOT NULL,
    source text NOT NULL,
    subject text NOT NULL,
    time timestamptz NOT NULL,
    datacontenttype text NOT NULL,
    data json NOT NULL,
    metadata json NOT NULL,
    schema_version int NOT NULL,
    UNIQUE (stream_id, stream_version)
  )`;

const COLUMNS =
  'id, stream_id, stream_version, type, source, subject, time, datacontenttype, data, metadata, schema_version';
const PARAMS_PER_ROW = 11;

/** `INSERT … VALUES ($1…$11), ($12…$22), …` for `rows` rows, cached by size. */
const insertTexts = new Map<number, string>();
function insertText(rows: number): string {
  let text = insertTexts.get(rows);
  if (!text) {
    const tuples = Array.from(
      { length: rows },
      (_, r) =>
        `(${Array.from({ length: PARAMS_PER_ROW }, (_, c) => `$${r * PARAMS_PER_ROW + c + 1}`).join(', ')})`,
    );
    text = `INSERT INTO ${BASELINE_SCHEMA}.events (${COLUMNS}) VALUES ${tuples.join(', ')}`;
    insertTexts.set(rows, text);
  }
  return text;
}

/**
 * Raw `pg`, named (prepared once per connection) statements: a single-row INSERT per append
 * in autocommit, one multi-row INSERT per batch, and a keyset SELECT by position for reads
 * (pg parses the json columns, as a store must). Ids are UUIDv7 like Causeway's: random
 * UUIDs would scatter the id index and make every commit write more pages.
 */
export function postgresBaseline(url: string): Entrant {
  return {
    label: 'pg INSERT',
    open: async () => {
      await recreateSchema(url, BASELINE_SCHEMA, true);
      await withClient(url, (client) => client.query(BASELINE_DDL));
      const pool = newPool(url);
      const versions = new StreamVersions();
      const rows = (
        writer: number,
        i: number,
        size: number,
        stream = streamFor(writer, i),
      ): unknown[] => {
        const base = versions.take(stream, size);
        const now = new Date();
        return Array.from({ length: size }, (_, k) => [
          newId(),
          stream,
          base + k + 1,
          EVENT_TYPE,
          EVENT_SOURCE,
          stream,
          now,
          CONTENT_TYPE,
          JSON.stringify(eventData(writer, i, k)),
          '{}',
          1,
        ]).flat();
      };
      const insert = async (values: unknown[]) => {
        const rows = values.length / PARAMS_PER_ROW;
        await pool.query({ name: `bench_insert_${rows}`, text: insertText(rows), values });
      };
      return {
        appendOne: (writer, i) => insert(rows(writer, i, 1)),
        appendBatch: (writer, i, size) => insert(rows(writer, i, size)),
        seed: (count) => seedInBatches(count, (stream, size) => insert(rows(0, 0, size, stream))),
        readAll: async () => {
          let after = '0';
          let count = 0;
          for (;;) {
            const page = await pool.query<{ global_position: string }>({
              name: 'bench_read_page',
              text: `SELECT global_position, ${COLUMNS} FROM ${BASELINE_SCHEMA}.events
               WHERE global_position > $1 ORDER BY global_position LIMIT $2`,
              values: [after, READ_PAGE_SIZE],
            });
            count += page.rows.length;
            const last = page.rows.at(-1);
            if (!last || page.rows.length < READ_PAGE_SIZE) return count;
            after = last.global_position;
          }
        },
        close: () => pool.end(),
      } satisfies Contestant;
    },
  };
}

interface CausewayPostgresModule {
  createPostgresEventStore(options: {
    pool: pg.Pool;
    schema: string;
  }): EventStore | Promise<EventStore>;
}

export async function postgresCauseway(url: string): Promise<Entrant> {
  const adapter = await loadAdapter<CausewayPostgresModule>(
    'causeway/postgres',
    'src/adapters/postgres/index.ts',
    ['createPostgresEventStore'],
  );
  if (!adapter.ok) return { reason: adapter.reason };
  return {
    label: 'causeway/postgres',
    open: async () => {
      await recreateSchema(url, CAUSEWAY_SCHEMA, false);
      const pool = newPool(url);
      const store = await adapter.module.createPostgresEventStore({
        pool,
        schema: CAUSEWAY_SCHEMA,
      });
      return causewayContestant(store, async () => {
        await store.close();
        await pool.end();
      });
    },
  };
}

/** The same URL with `search_path` pointing at `schema`: Emmett creates its tables in the current schema. */
function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}

/**
 * Emmett skips creating its functions when one of the same name exists in ANY schema, then
 * fails to call them from its own: refuse early, naming the schema to drop.
 */
async function assertNoOtherEmmettSchema(url: string): Promise<void> {
  const { rows } = await withClient(url, (client) =>
    client.query<{ schema: string }>(
      `SELECT DISTINCT n.nspname AS schema FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE p.proname = 'emt_append_to_stream' AND n.nspname <> $1`,
      [EMMETT_SCHEMA],
    ),
  );
  if (rows.length > 0) {
    const schemas = rows.map((row) => row.schema).join(', ');
    throw new Error(
      `Emmett's functions already exist in schema ${schemas}; Emmett would not create its own in ${EMMETT_SCHEMA}. Drop that schema or use another database`,
    );
  }
}

/** Drops the schemas the bench created. */
export async function dropPostgresSchemas(url: string): Promise<void> {
  for (const schema of [BASELINE_SCHEMA, CAUSEWAY_SCHEMA, EMMETT_SCHEMA])
    await recreateSchema(url, schema, false);
}

function emmettEvents(writer: number, i: number, size: number): EmmettEvent[] {
  return Array.from({ length: size }, (_, k) => ({
    type: EVENT_TYPE,
    data: eventData(writer, i, k),
  }));
}

/** Emmett's PostgreSQL store; reads go through its batch reader (what its consumers use). */
export function postgresEmmett(url: string): Entrant {
  const emmett = loadEmmettPostgres();
  if (!emmett.ok) return { reason: emmett.reason };
  const dumbo = loadDumbo();
  if (!dumbo.ok) return { reason: dumbo.reason };
  return {
    label: `emmett-postgresql ${emmett.version}`,
    open: async () => {
      await recreateSchema(url, EMMETT_SCHEMA, true);
      await assertNoOtherEmmettSchema(url);
      const connectionString = withSearchPath(url, EMMETT_SCHEMA);
      const store = emmett.module.getPostgreSQLEventStore(connectionString);
      await store.schema.migrate();
      const reader = dumbo.module.dumbo({ connectionString });
      const versions = new StreamVersions();
      const append = async (stream: string, events: EmmettEvent[]) => {
        await store.appendToStream(stream, events, {
          expectedStreamVersion: BigInt(versions.take(stream, events.length)),
        });
      };
      return {
        appendOne: (writer, i) => append(streamFor(writer, i), emmettEvents(writer, i, 1)),
        appendBatch: (writer, i, size) =>
          append(streamFor(writer, i), emmettEvents(writer, i, size)),
        seed: (count) =>
          seedInBatches(count, (stream, size) => append(stream, emmettEvents(0, 0, size))),
        readAll: async () => {
          let after = 0n;
          let count = 0;
          for (;;) {
            const batch = await emmett.module.readMessagesBatch(reader.execute, {
              after,
              batchSize: READ_PAGE_SIZE,
            });
            count += batch.messages.length;
            if (batch.messages.length < READ_PAGE_SIZE) return count;
            after = batch.currentGlobalPosition;
          }
        },
        close: async () => {
          await reader.close();
          await store.close();
        },
      } satisfies Contestant;
    },
  };
}
