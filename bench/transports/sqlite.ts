import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import Database from 'better-sqlite3';
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
 * SQLite queue contestants, each on its own file in WAL mode with `synchronous=FULL`
 * (Causeway's settings): a publish returns once its transaction is fsynced.
 */

export const SQLITE_PRAGMAS = ['journal_mode = WAL', 'synchronous = FULL', 'busy_timeout = 5000'];
const LEASE_MS = 30_000;
const FILES = ['transport-raw', 'transport-causeway', 'outbox-raw', 'outbox-causeway'];

export function removeSqliteFiles(dir: string): void {
  for (const name of FILES) freshFile(dir, name);
}

/** A path in `dir` for `name`, with any file (and WAL) of a previous run removed. */
export function freshFile(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  return file;
}

/**
 * The smallest durable queue: one table, one row per message (so one implicit group), with
 * the same CloudEvents headers (JSON) and body as Causeway's rows.
 * Publish is one INSERT (autocommit) or 100 INSERTs in one transaction. The consumer claims
 * up to `PREFETCH` rows under a lease in one transaction, hands each to the handler and acks
 * it with its own DELETE (its own fsynced transaction, as each settle is on Causeway's side).
 * The publisher wakes the consumer directly, as Causeway does within one process.
 */
export function sqliteBaseline(dir: string): TransportEntrant {
  return {
    label: 'better-sqlite3 queue table',
    open: async () => {
      const db = new Database(freshFile(dir, 'transport-raw'));
      for (const pragma of SQLITE_PRAGMAS) db.pragma(pragma);
      db.exec(`
        CREATE TABLE queue (
          position     INTEGER PRIMARY KEY AUTOINCREMENT,
          destination  TEXT NOT NULL,
          id           TEXT NOT NULL,
          headers      TEXT NOT NULL,
          body         TEXT NOT NULL,
          created_at   INTEGER NOT NULL,
          locked_until INTEGER
        );
        CREATE INDEX queue_log ON queue (destination, position);`);
      const insert = db.prepare<[string, string, string, string, number]>(
        'INSERT INTO queue (destination, id, headers, body, created_at) VALUES (?, ?, ?, ?, ?)',
      );
      const insertRow = (destination: string, body: Payload, now: number) => {
        const headers: Record<string, string> = {
          ...cloudEventHeaders('ce-'),
          'content-type': 'application/json',
        };
        insert.run(
          destination,
          headers['ce-id']!,
          JSON.stringify(headers),
          JSON.stringify(body),
          now,
        );
      };
      const insertMany = db.transaction((destination: string, bodies: readonly Payload[]) => {
        const now = Date.now();
        for (const body of bodies) insertRow(destination, body, now);
      });
      const claim = db.prepare<
        [{ until: number; now: number; limit: number }],
        { position: number; body: string }
      >(
        `UPDATE queue SET locked_until = @until WHERE position IN (
           SELECT position FROM queue WHERE destination = 'e2e'
             AND (locked_until IS NULL OR locked_until < @now) ORDER BY position LIMIT @limit)
         RETURNING position, body`,
      );
      const claimTx = db.transaction((limit: number) => {
        const now = Date.now();
        return claim.all({ until: now + LEASE_MS, now, limit });
      });
      const ack = db.prepare<[number]>('DELETE FROM queue WHERE position = ?');

      const tally = new Tally();
      let closed = false;
      let draining: Promise<void> | undefined;
      let again = false;
      // Claims and acks until the destination is empty, yielding between claims so the
      // publisher keeps running.
      const drain = async () => {
        do {
          again = false;
          for (;;) {
            const rows = claimTx.immediate(PREFETCH);
            if (rows.length === 0 || closed) break;
            for (const row of rows.sort((a, b) => a.position - b.position)) {
              tally.receive(JSON.parse(row.body) as Payload);
              ack.run(row.position);
            }
            await yieldToLoop();
          }
        } while (again && !closed);
      };
      const wake = () => {
        if (draining) {
          again = true;
          return;
        }
        // A failed drain leaves the round to time out with the count it reached.
        draining = drain()
          .catch((error: unknown) => console.error(`raw SQLite consumer: ${String(error)}`))
          .finally(() => (draining = undefined));
      };
      const publish = (destination: string, bodies: readonly Payload[]) => {
        if (bodies.length === 1) {
          const [body] = bodies as [Payload];
          insertRow(destination, body, Date.now());
        } else {
          insertMany.immediate(destination, bodies);
        }
        if (destination === 'e2e') wake();
        return Promise.resolve();
      };
      return {
        publishOne: (i) => publish('publish', [payload(i)]),
        publishBatch: (i, size) => publish('publish', payloads(i * BATCH_SIZE, size)),
        endToEnd: (count) => endToEndRound(tally, count, (bodies) => publish('e2e', bodies)),
        close: async () => {
          closed = true;
          await draining;
          db.close();
        },
      };
    },
  };
}

interface CausewaySqliteModule {
  SqliteTransportDriver: new (options: { filename: string }) => TransportDriver;
}

export async function sqliteCauseway(dir: string): Promise<TransportEntrant> {
  const adapter = await loadAdapter<CausewaySqliteModule>(
    'causeway/sqlite',
    'src/adapters/sqlite/index.ts',
    ['SqliteTransportDriver'],
  );
  if (!adapter.ok) return { reason: adapter.reason };
  return {
    label: 'causeway/sqlite',
    open: async () => {
      const driver = new adapter.module.SqliteTransportDriver({
        filename: freshFile(dir, 'transport-causeway'),
      });
      return causewayContestant(driver, BENCH_NAMES, async () => undefined);
    },
  };
}
