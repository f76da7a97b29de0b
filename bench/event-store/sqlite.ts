import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { newId, type EventStore } from 'causeway';
import { loadAdapter } from '../causeway.js';
import { causewayContestant } from './causeway-contestant.js';
import { loadEmmettSqlite, type EmmettEvent, type EmmettSqliteModule } from '../emmett.js';
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
 * SQLite contestants, each on its own file in `dir`, all in WAL mode with
 * `synchronous=FULL` (Causeway's settings): a returned append has been fsynced.
 */

const PRAGMAS = ['journal_mode = WAL', 'synchronous = FULL', 'busy_timeout = 5000'];

/** Causeway's `causeway_events` table shape, without the store's bookkeeping (streams table). */
const BASELINE_SCHEMA = `
  CREATE TABLE events (
    global_position INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    stream_id       TEXT NOT NULL,
    stream_version  INTEGER NOT NULL,
    type            TEXT NOT NULL,
    source          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    time            INTEGER NOT NULL,
    datacontenttype TEXT NOT NULL,
    data            TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    schema_version  INTEGER NOT NULL,
    UNIQUE (stream_id, stream_version)
  );
  CREATE INDEX events_type ON events (type, global_position);
`;

interface BaselineRow {
  global_position: number;
  data: string;
  metadata: string;
}

type InsertParams = [
  string,
  string,
  number,
  string,
  string,
  string,
  number,
  string,
  string,
  string,
  number,
];

const FILES = ['baseline', 'causeway', 'emmett'];

/** Deletes the files the bench created. */
export function removeSqliteFiles(dir: string): void {
  for (const name of FILES) freshFile(dir, name);
}

function freshFile(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  return file;
}

/**
 * Plain prepared INSERTs through better-sqlite3: the floor any store on this file pays. Ids
 * are UUIDv7 like Causeway's: random UUIDs scatter the id index and write more pages per commit.
 */
export function sqliteBaseline(dir: string): Entrant {
  return {
    label: 'better-sqlite3 INSERT',
    open: async () => {
      const db = new Database(freshFile(dir, 'baseline'));
      for (const pragma of PRAGMAS) db.pragma(pragma);
      db.exec(BASELINE_SCHEMA);
      const insert = db.prepare<InsertParams>(
        `INSERT INTO events (id, stream_id, stream_version, type, source, subject, time,
           datacontenttype, data, metadata, schema_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const page = db.prepare<[number, number], BaselineRow>(
        `SELECT global_position, id, stream_id, stream_version, type, source, subject, time,
           datacontenttype, data, metadata, schema_version
         FROM events WHERE global_position > ? ORDER BY global_position LIMIT ?`,
      );
      const versions = new StreamVersions();
      const row = (
        stream: string,
        version: number,
        data: Record<string, unknown>,
      ): InsertParams => [
        newId(),
        stream,
        version,
        EVENT_TYPE,
        EVENT_SOURCE,
        stream,
        Date.now(),
        CONTENT_TYPE,
        JSON.stringify(data),
        '{}',
        1,
      ];
      const insertMany = db.transaction((stream: string, rows: InsertParams[]) => {
        for (const params of rows) insert.run(...params);
        return stream;
      });
      const batch = (stream: string, size: number, writer: number, i: number) => {
        const base = versions.take(stream, size);
        insertMany(
          stream,
          Array.from({ length: size }, (_, k) =>
            row(stream, base + k + 1, eventData(writer, i, k)),
          ),
        );
      };
      return {
        appendOne: async (writer, i) => {
          const stream = streamFor(writer, i);
          insert.run(...row(stream, versions.take(stream, 1) + 1, eventData(writer, i)));
        },
        appendBatch: async (writer, i, size) => batch(streamFor(writer, i), size, writer, i),
        seed: (count) => seedInBatches(count, async (stream, size) => batch(stream, size, 0, 0)),
        readAll: async () => {
          let after = 0;
          let count = 0;
          for (;;) {
            const rows = page.all(after, READ_PAGE_SIZE);
            for (const found of rows) {
              JSON.parse(found.data);
              JSON.parse(found.metadata);
            }
            count += rows.length;
            const last = rows.at(-1);
            if (!last || rows.length < READ_PAGE_SIZE) return count;
            after = last.global_position;
          }
        },
        close: async () => {
          db.close();
        },
      } satisfies Contestant;
    },
  };
}

interface CausewaySqliteModule {
  createSqliteEventStore(options: { filename: string }): EventStore;
}

export async function sqliteCauseway(dir: string): Promise<Entrant> {
  const adapter = await loadAdapter<CausewaySqliteModule>(
    'causeway/sqlite',
    'src/adapters/sqlite/index.ts',
    ['createSqliteEventStore'],
  );
  if (!adapter.ok) return { reason: adapter.reason };
  return {
    label: 'causeway/sqlite',
    open: async () => {
      const store = adapter.module.createSqliteEventStore({ filename: freshFile(dir, 'causeway') });
      return causewayContestant(store, () => store.close());
    },
  };
}

function emmettEvents(writer: number, i: number, size: number): EmmettEvent[] {
  return Array.from({ length: size }, (_, k) => ({
    type: EVENT_TYPE,
    data: eventData(writer, i, k),
  }));
}

/**
 * Emmett's SQLite store with one long-lived connection (`singleton`): its default opens a
 * new `sqlite3` connection per operation, which measured about 3× slower here. Emmett
 * sets WAL itself; `synchronous` stays at SQLite's default, FULL (checked in `describe`).
 */
export function sqliteEmmett(dir: string): Entrant {
  const peer = loadEmmettSqlite();
  if (!peer.ok) return { reason: peer.reason };
  return {
    label: `emmett-sqlite ${peer.version}`,
    open: () => openEmmettSqlite(peer.module, freshFile(dir, 'emmett')),
  };
}

async function openEmmettSqlite(emmett: EmmettSqliteModule, fileName: string): Promise<Contestant> {
  const connection = emmett.sqliteConnection({ fileName });
  const store = emmett.getSQLiteEventStore({
    fileName,
    connectionOptions: { singleton: true, connection },
  });
  await store.schema.migrate();
  const synchronous = await connection.querySingle<{ synchronous: number }>('PRAGMA synchronous');
  if (synchronous?.synchronous !== 2) {
    throw new Error(
      `Emmett's connection runs with synchronous=${synchronous?.synchronous}, not FULL (2)`,
    );
  }
  const versions = new StreamVersions();
  const append = async (stream: string, events: EmmettEvent[]) => {
    await store.appendToStream(stream, events, {
      expectedStreamVersion: BigInt(versions.take(stream, events.length)),
    });
  };
  return {
    appendOne: (writer, i) => append(streamFor(writer, i), emmettEvents(writer, i, 1)),
    appendBatch: (writer, i, size) => append(streamFor(writer, i), emmettEvents(writer, i, size)),
    seed: (count) =>
      seedInBatches(count, (stream, size) => append(stream, emmettEvents(0, 0, size))),
    readAll: async () => {
      let after = 0n;
      let count = 0;
      for (;;) {
        const batch = await emmett.readMessagesBatch(connection, {
          after,
          batchSize: READ_PAGE_SIZE,
        });
        count += batch.messages.length;
        if (batch.messages.length < READ_PAGE_SIZE) return count;
        after = batch.currentGlobalPosition;
      }
    },
    close: async () => {
      connection.close();
    },
  };
}
