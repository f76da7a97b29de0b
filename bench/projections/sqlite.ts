/**
 * SQLite contenders of the projections suite. All run in WAL with `synchronous=FULL`
 * (Causeway's settings), so every committed page or command has been fsynced.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createEventStore, newId } from 'causeway';
import {
  createSqliteEventStore,
  createSqliteProjectionStore,
  SqliteEventStoreDriver,
} from 'causeway/sqlite';
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

const PRAGMAS = ['journal_mode = WAL', 'synchronous = FULL', 'busy_timeout = 5000'];

function freshFile(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  return file;
}

export function removeSqliteFiles(dir: string): void {
  for (const name of ['catch-up', 'commands-raw', 'commands-causeway']) freshFile(dir, name);
}

/** One Causeway event store file with `count` events, read by both catch-up contenders. */
export async function seedSqliteCatchUp(dir: string, count: number): Promise<string> {
  const file = freshFile(dir, 'catch-up');
  const store = createSqliteEventStore({ filename: file });
  try {
    await seedCatchUp(count, async (stream, events) => {
      await store.appendToStream(stream, events, { expectedVersion: 'no_stream' });
    });
  } finally {
    await store.close();
  }
  return file;
}

/** The fields of the three catch-up event types (each has some of them). */
export interface EventData {
  customerId: string;
  name: string;
  orderId: string;
  total: number;
}

interface EventRowRaw {
  global_position: number;
  type: string;
  time: number;
  data: string;
  metadata: string;
}

/**
 * better-sqlite3 by hand: keyset pages of the same `causeway_events` rows (data and metadata
 * parsed, as any consumer must), each page applied in one transaction — a lookup and an upsert
 * per event, then the checkpoint — into tables shaped like the Causeway read model's.
 */
export function sqliteRawCatchUp(file: string, events: number): Opener {
  return {
    label: 'better-sqlite3 pages + upserts',
    open: async () => {
      const db = new Database(file);
      for (const pragma of PRAGMAS) db.pragma(pragma);
      db.exec(`
        CREATE TABLE IF NOT EXISTS raw_customers (id TEXT PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS raw_orders (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL,
          customer_name TEXT NOT NULL, status TEXT NOT NULL, total REAL NOT NULL,
          updated_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS raw_checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);`);
      const types = CATCH_UP_TYPES.map((t) => `'${t}'`).join(', ');
      const page = db.prepare<[number], EventRowRaw>(
        `SELECT global_position, id, stream_id, stream_version, type, source, subject, time,
           datacontenttype, data, metadata, schema_version
         FROM causeway_events WHERE global_position > ? AND type IN (${types})
         ORDER BY global_position LIMIT ${PAGE_SIZE}`,
      );
      const customer = db.prepare<[string], { id: string; name: string }>(
        'SELECT id, name FROM raw_customers WHERE id = ?',
      );
      const order = db.prepare<
        [string],
        { id: string; customer_id: string; customer_name: string; total: number }
      >(
        'SELECT id, customer_id, customer_name, status, total, updated_at FROM raw_orders WHERE id = ?',
      );
      const upsertCustomer = db.prepare<[string, string]>(
        `INSERT INTO raw_customers (id, name) VALUES (?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name`,
      );
      const upsertOrder = db.prepare<[string, string, string, string, number, number]>(
        `INSERT INTO raw_orders (id, customer_id, customer_name, status, total, updated_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id,
         customer_name = excluded.customer_name, status = excluded.status, total = excluded.total,
         updated_at = excluded.updated_at`,
      );
      const checkpoint = db.prepare<[number]>(
        `INSERT INTO raw_checkpoints (name, position) VALUES ('orders', ?)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position`,
      );
      const apply = db.transaction((rows: EventRowRaw[]) => {
        for (const row of rows) {
          const data = JSON.parse(row.data) as EventData;
          JSON.parse(row.metadata);
          if (row.type === 'CustomerRegistered') {
            const known = customer.get(data.customerId);
            upsertCustomer.run(data.customerId, known?.name ?? data.name);
          } else if (row.type === 'OrderPlaced') {
            const known = customer.get(data.customerId);
            upsertOrder.run(
              data.orderId,
              data.customerId,
              known?.name ?? '?',
              'placed',
              data.total,
              row.time,
            );
          } else {
            const known = order.get(data.orderId);
            if (known)
              upsertOrder.run(
                known.id,
                known.customer_id,
                known.customer_name,
                'confirmed',
                known.total,
                row.time,
              );
          }
        }
        checkpoint.run(rows.at(-1)?.global_position ?? 0);
      });
      return {
        async round() {
          db.exec('DELETE FROM raw_customers; DELETE FROM raw_orders; DELETE FROM raw_checkpoints');
          const started = performance.now();
          let after = 0;
          for (;;) {
            const rows = page.all(after);
            if (rows.length > 0) apply.immediate(rows);
            const last = rows.at(-1);
            if (!last || rows.length < PAGE_SIZE) break;
            after = last.global_position;
          }
          return { units: events, elapsedMs: performance.now() - started };
        },
        close: async () => {
          db.close();
        },
      } satisfies Contender;
    },
  };
}

export function sqliteCausewayCatchUp(file: string, events: number): Opener {
  return {
    label: 'causeway/sqlite ProjectionRunner',
    open: async () => {
      const store = createSqliteEventStore({ filename: file });
      const projections = createSqliteProjectionStore({ filename: file });
      return causewayCatchUp(store, projections, events, async () => {
        await projections.close();
        await store.close();
      });
    },
  };
}

/** Causeway's `causeway_events` shape, without its streams table; plus the summaries table. */
const RAW_COMMANDS_SCHEMA = `
  CREATE TABLE events (
    global_position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    stream_id TEXT NOT NULL, stream_version INTEGER NOT NULL, type TEXT NOT NULL,
    source TEXT NOT NULL, subject TEXT NOT NULL, time INTEGER NOT NULL,
    datacontenttype TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
    schema_version INTEGER NOT NULL, UNIQUE (stream_id, stream_version));
  CREATE INDEX events_type ON events (type, global_position);
  CREATE TABLE order_summaries (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL,
    item_count INTEGER NOT NULL, total REAL NOT NULL, updated_at INTEGER NOT NULL);`;

/**
 * One transaction per command by hand: read the stream, fold it with the same decider, insert
 * the event, upsert the summary row.
 */
export function sqliteRawCommands(dir: string): Opener {
  return {
    label: 'better-sqlite3 read + insert + upsert',
    open: async () => {
      const db = new Database(freshFile(dir, 'commands-raw'));
      for (const pragma of PRAGMAS) db.pragma(pragma);
      db.exec(RAW_COMMANDS_SCHEMA);
      const read = db.prepare<[string], { stream_version: number; type: string; data: string }>(
        'SELECT stream_version, type, data FROM events WHERE stream_id = ? ORDER BY stream_version',
      );
      const insert = db.prepare(
        `INSERT INTO events (id, stream_id, stream_version, type, source, subject, time,
           datacontenttype, data, metadata, schema_version)
         VALUES (?, ?, ?, ?, 'urn:causeway:bench', ?, ?, 'application/json', ?, '{}', 1)`,
      );
      const upsert = db.prepare(
        `INSERT INTO order_summaries (id, customer_id, item_count, total, updated_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET item_count = excluded.item_count,
         total = excluded.total, updated_at = excluded.updated_at`,
      );
      const handle = db.transaction((i: number) => {
        const cmd = command(i);
        const stream = streamOf(cmd.orderId);
        const rows = read.all(stream);
        let state = orderDecider.initialState();
        for (const row of rows)
          state = orderDecider.evolve(state, {
            type: row.type,
            data: JSON.parse(row.data),
          } as OrderEvent);
        const event = orderDecider.decide(cmd, state) as OrderEvent;
        const now = Date.now();
        insert.run(
          newId(),
          stream,
          rows.length + 1,
          event.type,
          stream,
          now,
          JSON.stringify(event.data),
        );
        const after = orderDecider.evolve(state, event);
        upsert.run(cmd.orderId, after.customerId, after.itemCount, after.total, now);
      });
      let next = 0;
      return {
        async round(windowMs) {
          const started = performance.now();
          const deadline = started + windowMs;
          let done = 0;
          while (performance.now() < deadline || done === 0) {
            handle.immediate(next++);
            done++;
            // Yield like an async server loop would, so both sides pay the event loop.
            if (done % 64 === 0) await Promise.resolve();
          }
          return { units: done, elapsedMs: performance.now() - started };
        },
        close: async () => {
          db.close();
        },
      } satisfies Contender;
    },
  };
}

export function sqliteCausewayCommands(dir: string): Opener {
  return {
    label: 'causeway/sqlite bus → decider → append + inline projection',
    open: async () => {
      const driver = new SqliteEventStoreDriver({ filename: freshFile(dir, 'commands-causeway') });
      const projections = createSqliteProjectionStore({ database: driver.database });
      const store = createEventStore(driver, {
        inline: { store: projections, projections: [{ ...orderSummaries, mode: 'inline' }] },
      });
      return causewayCommands(store, async () => {
        await store.close();
        await projections.close();
      });
    },
  };
}
