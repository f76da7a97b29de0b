import type pg from 'pg';
import type { Message, OutboxStore, TransportDriver } from 'causeway';
import { loadAdapter } from '../causeway.js';
import {
  causewayOutbox,
  OUTBOX_DESTINATION,
  rawOutbox,
  type OutboxEntrant,
  type OutboxTarget,
} from './outbox.js';
import { newPool, recreateSchema, SCHEMA_SUFFIX } from './postgres.js';
import { loadCausewayRabbitMq, rawRabbitMqTarget, type AmqpMessage } from './rabbitmq.js';
import { cloudEventHeaders, type Payload } from './workload.js';

/**
 * Outbox relay on PostgreSQL: the outbox in the application's database, relayed to a queue in
 * the same database or to RabbitMQ. One schema and one pool of `POOL_SIZE` per side.
 */

export const OUTBOX_RAW_SCHEMA = `bench_outbox_raw${SCHEMA_SUFFIX}`;
export const OUTBOX_CAUSEWAY_SCHEMA = `bench_outbox_causeway${SCHEMA_SUFFIX}`;

interface CausewayPostgresOutboxModule {
  createPostgresOutboxStore(options: { pool: pg.Pool; schema: string }): Promise<
    OutboxStore & {
      write(
        client: pg.ClientBase,
        destination: string,
        messages: readonly Message[],
      ): Promise<void>;
      close(): Promise<void>;
    }
  >;
  createPostgresTransportDriver(options: {
    pool: pg.Pool;
    schema: string;
  }): Promise<TransportDriver>;
  withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T>;
}

export async function postgresOutboxCauseway(
  url: string,
  target: OutboxTarget,
  amqpUrl: string,
): Promise<OutboxEntrant> {
  const adapter = await loadAdapter<CausewayPostgresOutboxModule>(
    'causeway/postgres',
    'src/adapters/postgres/index.ts',
    ['createPostgresOutboxStore', 'createPostgresTransportDriver', 'withTransaction'],
  );
  if (!adapter.ok) return { reason: adapter.reason };
  const rabbit = target === 'rabbitmq' ? await loadCausewayRabbitMq(amqpUrl) : undefined;
  if (rabbit && 'reason' in rabbit) return rabbit;
  const { createPostgresOutboxStore, createPostgresTransportDriver, withTransaction } =
    adapter.module;
  return {
    label: `causeway/postgres outbox → ${target === 'queue' ? 'causeway/postgres' : 'causeway/rabbitmq'}`,
    open: async () => {
      await recreateSchema(url, OUTBOX_CAUSEWAY_SCHEMA, false);
      const pool = newPool(url);
      const store = await createPostgresOutboxStore({ pool, schema: OUTBOX_CAUSEWAY_SCHEMA });
      const broker = rabbit ? await rabbit.connect() : undefined;
      const driver =
        broker?.driver ??
        (await createPostgresTransportDriver({ pool, schema: OUTBOX_CAUSEWAY_SCHEMA }));
      return causewayOutbox({
        store,
        driver,
        // One application transaction per call, as a command handler's would be.
        write: (messages) =>
          withTransaction(pool, (client) => store.write(client, OUTBOX_DESTINATION, messages)),
        close: async () => {
          await broker?.cleanup();
          await store.close();
          await pool.end();
        },
      });
    },
  };
}

interface RawRow {
  sequence: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * The raw relay: an outbox table with the same columns (headers as json, a lease, `sent_at`),
 * claimed 100 at a time with `FOR UPDATE SKIP LOCKED` in one statement, published to the raw
 * queue table of the same database (one INSERT) or to RabbitMQ (confirm channel), then marked
 * sent in one statement.
 */
export function postgresOutboxBaseline(
  url: string,
  target: OutboxTarget,
  amqpUrl: string,
): OutboxEntrant {
  const s = OUTBOX_RAW_SCHEMA;
  return {
    label: `pg outbox → ${target === 'queue' ? 'queue table' : 'amqplib'}`,
    open: async () => {
      await recreateSchema(url, s, true);
      const pool = newPool(url);
      await pool.query(`
        CREATE TABLE ${s}.outbox (
          sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, destination text NOT NULL,
          message_id text NOT NULL, headers json NOT NULL, body text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(), claimed_by text, claimed_until timestamptz,
          sent_at timestamptz);
        CREATE INDEX outbox_unsent ON ${s}.outbox (sequence) WHERE sent_at IS NULL;
        CREATE TABLE ${s}.queue (
          position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, destination text NOT NULL,
          id text NOT NULL, headers json NOT NULL, body text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(), locked_until timestamptz);
        CREATE INDEX queue_log ON ${s}.queue (destination, position);`);
      const prefix = target === 'queue' ? 'ce-' : 'cloudEvents:';
      const row = (body: Payload) => {
        const headers: Record<string, string> = cloudEventHeaders(prefix);
        if (target === 'queue') headers['content-type'] = 'application/json';
        return { id: headers[`${prefix}id`]!, headers, body: JSON.stringify(body) };
      };
      const rabbit = target === 'rabbitmq' ? await rawRabbitMqTarget(amqpUrl) : undefined;
      const toAmqp = (r: RawRow): AmqpMessage => ({ body: r.body, headers: r.headers });
      return rawOutbox<RawRow>({
        write: async (bodies) => {
          await pool.query({
            name: 'bench_outbox_write',
            text: `INSERT INTO ${s}.outbox (destination, message_id, headers, body)
                   SELECT $1, e->>'id', e->'headers', e->>'body' FROM json_array_elements($2::json) e`,
            values: [OUTBOX_DESTINATION, JSON.stringify(bodies.map(row))],
          });
        },
        claim: async (limit) => {
          const { rows } = await pool.query<RawRow>({
            name: 'bench_outbox_claim',
            text: `UPDATE ${s}.outbox SET claimed_by = 'raw', claimed_until = now() + interval '30 seconds'
                   WHERE sequence IN (
                     SELECT sequence FROM ${s}.outbox WHERE sent_at IS NULL
                       AND (claimed_by IS NULL OR claimed_until < now())
                     ORDER BY sequence LIMIT $1 FOR UPDATE SKIP LOCKED)
                   RETURNING sequence, headers, body`,
            values: [limit],
          });
          return rows.sort((a, b) => Number(a.sequence) - Number(b.sequence));
        },
        publish: async (rows) => {
          if (rabbit) return rabbit.publish(rows.map(toAmqp));
          await pool.query({
            name: 'bench_outbox_enqueue',
            text: `INSERT INTO ${s}.queue (destination, id, headers, body)
                   SELECT $1, e->'headers'->>'ce-id', e->'headers', e->>'body'
                   FROM json_array_elements($2::json) e`,
            values: [OUTBOX_DESTINATION, JSON.stringify(rows)],
          });
        },
        markSent: async (rows) => {
          await pool.query({
            name: 'bench_outbox_sent',
            text: `UPDATE ${s}.outbox SET sent_at = now() WHERE sequence = ANY($1::bigint[])`,
            values: [rows.map((r) => r.sequence)],
          });
        },
        close: async () => {
          await rabbit?.close();
          await pool.end();
        },
      });
    },
  };
}
