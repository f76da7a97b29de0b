import pg from 'pg';
import type { TransportDriver } from 'causeway';
import { loadAdapter } from '../causeway.js';
import { BENCH_NAMES, causewayContestant } from './causeway-side.js';
import {
  BATCH_SIZE,
  cloudEventHeaders,
  endToEndRound,
  payload,
  payloads,
  PREFETCH,
  Tally,
  type Payload,
  type TransportEntrant,
} from './workload.js';

/**
 * PostgreSQL queue contestants: one schema each, the server's own durability, one pool of
 * `POOL_SIZE` connections per side (Causeway's LISTEN connection comes on top).
 */

export const POOL_SIZE = 8;
/**
 * Appended to every schema the transport cases create: two bench runs at once (several people
 * or agents on one server) would otherwise drop and fill each other's tables mid-round.
 */
export const SCHEMA_SUFFIX = `_${process.pid}`;
const RAW_SCHEMA = `bench_transport_raw${SCHEMA_SUFFIX}`;
const CAUSEWAY_SCHEMA = `bench_transport_causeway${SCHEMA_SUFFIX}`;
/** The raw consumer's fallback poll; the publisher wakes it directly within the process. */
const POLL_MS = 1_000;

export function newPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  pool.on('error', () => undefined);
  return pool;
}

/** Drops `schema` (and everything in it); creates it again when `create`. */
export async function recreateSchema(url: string, schema: string, create: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    if (create) await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
}

/** Drops the schemas the transport cases created (`extra`: the outbox cases' too). */
export async function dropTransportSchemas(
  url: string,
  extra: readonly string[] = [],
): Promise<void> {
  for (const schema of [RAW_SCHEMA, CAUSEWAY_SCHEMA, ...extra])
    await recreateSchema(url, schema, false);
}

/**
 * The smallest durable queue: one table, one row per message (one implicit group), with the
 * same CloudEvents headers (json) and body as Causeway's rows. Publish is
 * one INSERT in autocommit, a batch one INSERT of 100 rows from a JSON array. The consumer
 * claims up to `PREFETCH` rows with `FOR UPDATE SKIP LOCKED` under a lease in one statement,
 * hands them to the handler and acks each with its own DELETE, up to `PREFETCH` in flight.
 */
export function postgresBaseline(url: string): TransportEntrant {
  return {
    label: 'pg queue table',
    open: async () => {
      await recreateSchema(url, RAW_SCHEMA, true);
      const pool = newPool(url);
      await pool.query(`
        CREATE TABLE ${RAW_SCHEMA}.queue (
          position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          destination text NOT NULL,
          id text NOT NULL,
          headers json NOT NULL,
          body text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          locked_until timestamptz
        );
        CREATE INDEX queue_log ON ${RAW_SCHEMA}.queue (destination, position);`);
      const row = (body: Payload) => {
        const headers: Record<string, string> = {
          ...cloudEventHeaders('ce-'),
          'content-type': 'application/json',
        };
        return { id: headers['ce-id']!, headers, body: JSON.stringify(body) };
      };
      const insertOne = (destination: string, body: Payload) => {
        const { id, headers, body: text } = row(body);
        return pool.query({
          name: 'bench_tq_insert',
          text: `INSERT INTO ${RAW_SCHEMA}.queue (destination, id, headers, body) VALUES ($1, $2, $3, $4)`,
          values: [destination, id, JSON.stringify(headers), text],
        });
      };
      const insertMany = (destination: string, bodies: readonly Payload[]) =>
        pool.query({
          name: 'bench_tq_insert_many',
          text: `INSERT INTO ${RAW_SCHEMA}.queue (destination, id, headers, body)
                 SELECT $1, e->>'id', e->'headers', e->>'body' FROM json_array_elements($2::json) e`,
          values: [destination, JSON.stringify(bodies.map(row))],
        });

      const tally = new Tally();
      let closed = false;
      let held = 0;
      let polling: Promise<void> | undefined;
      let again = false;
      let timer: NodeJS.Timeout | undefined;
      const acks = new Set<Promise<unknown>>();
      const claim = async () => {
        const room = PREFETCH - held;
        if (room <= 0 || closed) return;
        const { rows } = await pool.query<{ position: string; body: string }>({
          name: 'bench_tq_claim',
          text: `UPDATE ${RAW_SCHEMA}.queue SET locked_until = now() + interval '30 seconds'
                 WHERE position IN (
                   SELECT position FROM ${RAW_SCHEMA}.queue WHERE destination = 'e2e'
                     AND (locked_until IS NULL OR locked_until < now())
                   ORDER BY position LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING position, body`,
          values: [room],
        });
        held += rows.length;
        for (const row of rows.sort((a, b) => Number(a.position) - Number(b.position))) {
          tally.receive(JSON.parse(row.body) as Payload);
          const ack = pool
            .query({
              name: 'bench_tq_ack',
              text: `DELETE FROM ${RAW_SCHEMA}.queue WHERE position = $1`,
              values: [row.position],
            })
            .finally(() => {
              acks.delete(ack);
              held--;
              wake(); // room again
            });
          acks.add(ack);
        }
      };
      const wake = () => {
        if (closed) return;
        if (polling) {
          again = true;
          return;
        }
        clearTimeout(timer);
        polling = claim()
          .catch(() => undefined)
          .finally(() => {
            polling = undefined;
            if (again) {
              again = false;
              wake();
            } else if (!closed) timer = setTimeout(wake, POLL_MS);
          });
      };
      wake();
      const publish = async (destination: string, bodies: readonly Payload[]) => {
        if (bodies.length === 1) await insertOne(destination, bodies[0]!);
        else await insertMany(destination, bodies);
        if (destination === 'e2e') wake();
      };
      return {
        publishOne: (i) => publish('publish', [payload(i)]),
        publishBatch: (i, size) => publish('publish', payloads(i * BATCH_SIZE, size)),
        endToEnd: (count) => endToEndRound(tally, count, (bodies) => publish('e2e', bodies)),
        close: async () => {
          closed = true;
          clearTimeout(timer);
          await polling;
          await Promise.allSettled([...acks]);
          await pool.end();
        },
      };
    },
  };
}

interface CausewayPostgresModule {
  createPostgresTransportDriver(options: {
    pool: pg.Pool;
    schema: string;
  }): Promise<TransportDriver>;
}

export async function postgresCauseway(url: string): Promise<TransportEntrant> {
  const adapter = await loadAdapter<CausewayPostgresModule>(
    'causeway/postgres',
    'src/adapters/postgres/index.ts',
    ['createPostgresTransportDriver'],
  );
  if (!adapter.ok) return { reason: adapter.reason };
  return {
    label: 'causeway/postgres',
    open: async () => {
      await recreateSchema(url, CAUSEWAY_SCHEMA, false);
      const pool = newPool(url);
      const driver = await adapter.module.createPostgresTransportDriver({
        pool,
        schema: CAUSEWAY_SCHEMA,
      });
      return causewayContestant(driver, BENCH_NAMES, () => pool.end());
    },
  };
}
