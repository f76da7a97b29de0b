/**
 * PostgreSQL contenders of the projections suite: one database, a schema per case and side,
 * the server's own durability settings (recorded in the results), a pool of 4 per side.
 */
import pg from 'pg';
import { newId } from 'causeway';
import { createPostgresEventStore, createPostgresProjectionStore } from 'causeway/postgres';
import { causewayCatchUp, causewayCommands } from './causeway-side.js';
import {
  CATCH_UP_TYPES,
  command,
  orderDecider,
  orderSummaries,
  PAGE_SIZE,
  seedCatchUp,
  streamOf,
  type Contender,
  type OrderEvent,
  type Opener,
} from './workload.js';
import type { EventData } from './sqlite.js';

const CATCH_UP_SCHEMA = 'bench_proj_catchup';
const RAW_COMMANDS_SCHEMA = 'bench_proj_cmd_raw';
const CAUSEWAY_COMMANDS_SCHEMA = 'bench_proj_cmd_causeway';
const POOL_SIZE = 4;

function newPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  pool.on('error', () => undefined);
  return pool;
}

async function recreateSchema(url: string, schema: string, create: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    if (create) await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
}

export async function dropProjectionSchemas(url: string): Promise<void> {
  for (const schema of [CATCH_UP_SCHEMA, RAW_COMMANDS_SCHEMA, CAUSEWAY_COMMANDS_SCHEMA])
    await recreateSchema(url, schema, false);
}

/** A Causeway event store schema with `count` events, read by both catch-up contenders. */
export async function seedPostgresCatchUp(url: string, count: number): Promise<string> {
  await recreateSchema(url, CATCH_UP_SCHEMA, false);
  const store = await createPostgresEventStore({ connectionString: url, schema: CATCH_UP_SCHEMA });
  try {
    await seedCatchUp(count, async (stream, events) => {
      await store.appendToStream(stream, events, { expectedVersion: 'no_stream' });
    });
  } finally {
    await store.close();
  }
  return CATCH_UP_SCHEMA;
}

/** Runs `work` in one transaction on one pooled connection. */
async function inTransaction(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<void>) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

interface EventRecord {
  global_position: string;
  type: string;
  time: Date;
  data: EventData;
  metadata: unknown;
}

/**
 * `pg` by hand, named statements: keyset pages of the same `causeway_events` rows (pg parses
 * the json columns), each page in one transaction — a lookup and an upsert per event, then the
 * checkpoint — into tables shaped like the Causeway read model's.
 */
export function postgresRawCatchUp(url: string, schema: string, events: number): Opener {
  const s = schema;
  return {
    label: 'pg pages + upserts',
    open: async () => {
      const pool = newPool(url);
      await pool.query(`
        CREATE TABLE IF NOT EXISTS ${s}.raw_customers (id text PRIMARY KEY, name text NOT NULL);
        CREATE TABLE IF NOT EXISTS ${s}.raw_orders (id text PRIMARY KEY, customer_id text NOT NULL,
          customer_name text NOT NULL, status text NOT NULL, total double precision NOT NULL,
          updated_at timestamptz NOT NULL);
        CREATE TABLE IF NOT EXISTS ${s}.raw_checkpoints (name text PRIMARY KEY, position bigint NOT NULL);`);
      const q = (client: pg.PoolClient, name: string, text: string, values: unknown[]) =>
        client.query({ name, text, values });
      const apply = (rows: EventRecord[]) =>
        inTransaction(pool, async (client) => {
          for (const row of rows) {
            const data = row.data;
            if (row.type === 'OrderConfirmed') {
              const { rows: found } = await q(
                client,
                'raw_order',
                `SELECT id, customer_id, customer_name, status, total, updated_at FROM ${s}.raw_orders WHERE id = $1`,
                [data.orderId],
              );
              const known = found[0] as
                | { id: string; customer_id: string; customer_name: string; total: number }
                | undefined;
              if (known)
                await upsertOrder(
                  client,
                  known.id,
                  known.customer_id,
                  known.customer_name,
                  'confirmed',
                  known.total,
                  row.time,
                );
              continue;
            }
            const { rows: found } = await q(
              client,
              'raw_customer',
              `SELECT id, name FROM ${s}.raw_customers WHERE id = $1`,
              [data.customerId],
            );
            const known = found[0] as { name: string } | undefined;
            if (row.type === 'CustomerRegistered')
              await q(
                client,
                'raw_upsert_customer',
                `INSERT INTO ${s}.raw_customers (id, name) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name`,
                [data.customerId, known?.name ?? data.name],
              );
            else
              await upsertOrder(
                client,
                data.orderId,
                data.customerId,
                known?.name ?? '?',
                'placed',
                data.total,
                row.time,
              );
          }
          await q(
            client,
            'raw_checkpoint',
            `INSERT INTO ${s}.raw_checkpoints (name, position) VALUES ('orders', $1)
             ON CONFLICT (name) DO UPDATE SET position = excluded.position`,
            [rows.at(-1)?.global_position ?? 0],
          );
        });
      const upsertOrder = (client: pg.PoolClient, ...values: unknown[]) =>
        q(
          client,
          'raw_upsert_order',
          `INSERT INTO ${s}.raw_orders (id, customer_id, customer_name, status, total, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET
           customer_id = excluded.customer_id, customer_name = excluded.customer_name,
           status = excluded.status, total = excluded.total, updated_at = excluded.updated_at`,
          values,
        );
      return {
        async round() {
          await pool.query(`TRUNCATE ${s}.raw_customers, ${s}.raw_orders, ${s}.raw_checkpoints`);
          const started = performance.now();
          let after = '0';
          for (;;) {
            const { rows } = await pool.query<EventRecord>({
              name: 'raw_page',
              text: `SELECT global_position, id, stream_id, stream_version, type, source, subject,
                       time, datacontenttype, data, metadata, schema_version
                     FROM ${s}.causeway_events WHERE global_position > $1 AND type = ANY ($2)
                     ORDER BY global_position LIMIT ${PAGE_SIZE}`,
              values: [after, CATCH_UP_TYPES],
            });
            if (rows.length > 0) await apply(rows);
            const last = rows.at(-1);
            if (!last || rows.length < PAGE_SIZE) break;
            after = last.global_position;
          }
          return { units: events, elapsedMs: performance.now() - started };
        },
        close: () => pool.end(),
      } satisfies Contender;
    },
  };
}

export function postgresCausewayCatchUp(url: string, schema: string, events: number): Opener {
  return {
    label: 'causeway/postgres ProjectionRunner',
    open: async () => {
      const pool = newPool(url);
      const store = await createPostgresEventStore({ pool, schema });
      const projections = await createPostgresProjectionStore({ pool, schema });
      return causewayCatchUp(store, projections, events, async () => {
        await projections.close();
        await store.close();
        await pool.end();
      });
    },
  };
}

/**
 * One transaction per command by hand: read the stream, fold it with the same decider, insert
 * the event (Causeway's table shape, no streams table), upsert the summary row.
 */
export function postgresRawCommands(url: string): Opener {
  const s = RAW_COMMANDS_SCHEMA;
  return {
    label: 'pg read + insert + upsert',
    open: async () => {
      await recreateSchema(url, s, true);
      const pool = newPool(url);
      await pool.query(`
        CREATE TABLE ${s}.events (global_position bigserial PRIMARY KEY, id text NOT NULL UNIQUE,
          stream_id text COLLATE "C" NOT NULL, stream_version bigint NOT NULL, type text NOT NULL,
          source text NOT NULL, subject text NOT NULL, time timestamptz NOT NULL,
          datacontenttype text NOT NULL, data json NOT NULL, metadata json NOT NULL,
          schema_version int NOT NULL, UNIQUE (stream_id, stream_version));
        CREATE TABLE ${s}.order_summaries (id text PRIMARY KEY, customer_id text NOT NULL,
          item_count bigint NOT NULL, total double precision NOT NULL, updated_at timestamptz NOT NULL);`);
      const handle = (i: number) =>
        inTransaction(pool, async (client) => {
          const cmd = command(i);
          const stream = streamOf(cmd.orderId);
          const { rows } = await client.query<{ type: string; data: unknown }>({
            name: 'raw_read',
            text: `SELECT stream_version, type, data FROM ${s}.events WHERE stream_id = $1 ORDER BY stream_version`,
            values: [stream],
          });
          let state = orderDecider.initialState();
          for (const row of rows) state = orderDecider.evolve(state, row as OrderEvent);
          const event = orderDecider.decide(cmd, state) as OrderEvent;
          const now = new Date();
          await client.query({
            name: 'raw_insert',
            text: `INSERT INTO ${s}.events (id, stream_id, stream_version, type, source, subject, time,
                     datacontenttype, data, metadata, schema_version)
                   VALUES ($1, $2, $3, $4, 'urn:causeway:bench', $5, $6, 'application/json', $7, '{}', 1)`,
            values: [
              newId(),
              stream,
              rows.length + 1,
              event.type,
              stream,
              now,
              JSON.stringify(event.data),
            ],
          });
          const after = orderDecider.evolve(state, event);
          await client.query({
            name: 'raw_upsert',
            text: `INSERT INTO ${s}.order_summaries (id, customer_id, item_count, total, updated_at)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET
                   item_count = excluded.item_count, total = excluded.total, updated_at = excluded.updated_at`,
            values: [cmd.orderId, after.customerId, after.itemCount, after.total, now],
          });
        });
      let next = 0;
      return {
        async round(windowMs) {
          const started = performance.now();
          const deadline = started + windowMs;
          let done = 0;
          while (performance.now() < deadline || done === 0) {
            await handle(next++);
            done++;
          }
          return { units: done, elapsedMs: performance.now() - started };
        },
        close: () => pool.end(),
      } satisfies Contender;
    },
  };
}

export function postgresCausewayCommands(url: string): Opener {
  return {
    label: 'causeway/postgres bus → decider → append + inline projection',
    open: async () => {
      await recreateSchema(url, CAUSEWAY_COMMANDS_SCHEMA, false);
      const pool = newPool(url);
      const schema = CAUSEWAY_COMMANDS_SCHEMA;
      const projections = await createPostgresProjectionStore({ pool, schema });
      const store = await createPostgresEventStore({
        pool,
        schema,
        inline: { store: projections, projections: [{ ...orderSummaries, mode: 'inline' }] },
      });
      return causewayCommands(store, async () => {
        await store.close();
        await projections.close();
        await pool.end();
      });
    },
  };
}
