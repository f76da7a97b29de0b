import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  DuplicateEventIdError,
  EventRegistry,
  isConcurrencyError,
  ManualClock,
  prepareEvents,
  StoreUnavailableError,
  type EventStore,
  type EventStoreOptions,
  type NewEvent,
} from 'causeway';
import {
  appendInTransaction,
  createSqliteEventStore,
  openSqliteDatabase,
  SCHEMA_VERSION,
  SqliteEventStoreDriver,
  SqliteSnapshotStore,
  type SqliteDatabase,
} from 'causeway/sqlite';
import { collect } from 'causeway/testing';
import { eventStoreContract } from '../contracts/event-store.contract.js';

/** Connections the tests open beside the stores; closed before their directory is removed. */
const connections: SqliteDatabase[] = [];
const track = (db: SqliteDatabase) => (connections.push(db), db);
const closeConnections = () => {
  for (const db of connections.splice(0)) db.close();
};

// The contract removes its files in `cleanup()` when its own block ends, so it gets its own
// directory; the adapter tests below use another.
const contractRoot = mkdtempSync(join(tmpdir(), 'causeway-sqlite-contract-'));
let contractFiles = 0;

eventStoreContract({
  name: 'sqlite',
  async create(options) {
    const filename = join(contractRoot, `store-${++contractFiles}.db`);
    const store = createSqliteEventStore({ ...options, filename });
    return {
      store,
      snapshots: new SqliteSnapshotStore(track(openSqliteDatabase(filename))),
      // A restarted process: a new connection on the same file.
      reopen: async (again?: EventStoreOptions) =>
        createSqliteEventStore({ ...(again ?? options), filename }),
    };
  },
  async cleanup() {
    closeConnections();
    rmSync(contractRoot, { recursive: true, force: true });
  },
});

const root = mkdtempSync(join(tmpdir(), 'causeway-sqlite-'));
let files = 0;
const nextFile = () => join(root, `store-${++files}.db`);

describe('SQLite adapter', () => {
  const stores: EventStore[] = [];
  const open = (options: Parameters<typeof createSqliteEventStore>[0] = {}) => {
    const store = createSqliteEventStore({ filename: nextFile(), ...options });
    stores.push(store);
    return store;
  };
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    closeConnections();
    rmSync(root, { recursive: true, force: true });
  });
  const ev = (type: string, data: unknown = {}, extra: Partial<NewEvent> = {}): NewEvent => ({
    type,
    data,
    ...extra,
  });

  describe('opening the file', () => {
    it('creates the file on first use, in WAL mode with the durability pragmas', async () => {
      const filename = nextFile();
      expect(existsSync(filename)).toBe(false);
      const driver = new SqliteEventStoreDriver({ filename });
      expect(existsSync(filename)).toBe(true);
      expect(driver.address).toBe(resolve(filename));
      const db = driver.database;
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      await driver.close();
      expect(db.open).toBe(false);
      // WAL is a property of the file: a plain connection sees it too.
      const plain = track(openSqliteDatabase(filename));
      expect(plain.pragma('journal_mode', { simple: true })).toBe('wal');
    });

    it('migrates idempotently and records the schema version', () => {
      const filename = nextFile();
      const a = track(openSqliteDatabase(filename));
      const b = track(openSqliteDatabase(filename));
      for (const db of [a, b]) {
        const version = db.prepare('SELECT max(version) FROM causeway_schema').pluck().get();
        expect(version).toBe(SCHEMA_VERSION);
      }
      expect(a.prepare('SELECT count(*) FROM causeway_schema').pluck().get()).toBe(SCHEMA_VERSION);
    });

    it('an unusable path is a StoreUnavailableError naming the path', () => {
      const notADirectory = join(root, 'plain-file.txt');
      writeFileSync(notADirectory, 'x');
      const filename = join(notADirectory, 'causeway.db');
      const error = catchSync(() => createSqliteEventStore({ filename }));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', address: resolve(filename) });
      expect((error as Error).message).toContain(resolve(filename));
      expect((error as Error).cause).toBeDefined();
    });

    it('a file that is not a SQLite database is a StoreUnavailableError too', () => {
      const filename = join(root, 'garbage.db');
      writeFileSync(filename, 'this is not a database '.repeat(100));
      const error = catchSync(() => createSqliteEventStore({ filename }));
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', address: resolve(filename) });
    });

    it('uses a borrowed connection without closing it', async () => {
      const db = track(openSqliteDatabase(nextFile()));
      const store = createSqliteEventStore({ database: db });
      await store.appendToStream('s', [ev('A')]);
      await store.close();
      expect(db.open).toBe(true);
      expect(db.prepare('SELECT count(*) FROM causeway_events').pluck().get()).toBe(1);
    });
  });

  describe('the global log', () => {
    it('a page that ends exactly at the head reports the end', async () => {
      const store = open();
      await store.appendToStream('s', [ev('A'), ev('B'), ev('C')]);
      const page = await store.readAllPage(0, 3);
      expect(page.events).toHaveLength(3);
      expect(page).toMatchObject({ isEnd: true, scannedUpTo: await store.headPosition() });
      const partial = await store.readAllPage(0, 2);
      expect(partial).toMatchObject({ isEnd: false, scannedUpTo: page.events[1]!.globalPosition });
    });

    it('never reuses the positions of a tombstoned tail, across a restart', async () => {
      const filename = nextFile();
      const first = createSqliteEventStore({ filename });
      await first.appendToStream('keep', [ev('A')]);
      const { positions } = await first.appendToStream('gone', [ev('B'), ev('C')]);
      await first.tombstoneStream('gone');
      expect(await first.headPosition()).toBe(positions[1]);
      await first.close();
      const second = open({ filename });
      const next = await second.appendToStream('new', [ev('D')]);
      expect(next.positions[0]!).toBeGreaterThan(positions[1]!);
    });

    it('a tombstone also removes the stream’s snapshot', async () => {
      const db = track(openSqliteDatabase(nextFile()));
      const store = createSqliteEventStore({ database: db });
      stores.push(store);
      const snapshots = new SqliteSnapshotStore(db);
      await store.appendToStream('user-1', [ev('Registered')]);
      await snapshots.save({
        streamId: 'user-1',
        version: 1,
        state: { email: 'a@b.c' },
        stateVersion: 1,
        createdAt: new Date(),
      });
      await store.tombstoneStream('user-1');
      expect(await snapshots.load('user-1')).toBeUndefined();
    });
  });

  describe('appendInTransaction', () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const prepare = (streamId: string, events: NewEvent[]) =>
      prepareEvents(streamId, events, {
        registry: new EventRegistry(),
        limits: DEFAULT_LIMITS,
        clock,
      });
    const setup = () => {
      const db = track(openSqliteDatabase(nextFile()));
      db.exec('CREATE TABLE read_model (id TEXT PRIMARY KEY, n INTEGER)');
      const count = (sql: string) => db.prepare(sql).pluck().get();
      return { db, count };
    };

    it('commits or rolls back together with the caller’s own writes', async () => {
      const { db, count } = setup();
      const events = await prepare('order-1', [ev('Placed')]);
      expect(() =>
        db
          .transaction(() => {
            appendInTransaction(db, 'order-1', events, 'no_stream');
            db.prepare("INSERT INTO read_model VALUES ('order-1', 1)").run();
            throw new Error('projection failed');
          })
          .immediate(),
      ).toThrow('projection failed');
      expect(count('SELECT count(*) FROM causeway_events')).toBe(0);
      expect(count('SELECT count(*) FROM read_model')).toBe(0);

      const result = db
        .transaction(() => {
          const appended = appendInTransaction(db, 'order-1', events, 'no_stream');
          db.prepare("INSERT INTO read_model VALUES ('order-1', 1)").run();
          return appended;
        })
        .immediate();
      expect(result.nextExpectedVersion).toBe(1);
      expect(count('SELECT count(*) FROM causeway_events')).toBe(1);
      expect(count('SELECT count(*) FROM read_model')).toBe(1);
    });

    it('a failed append inside a transaction leaves the caller’s transaction usable', async () => {
      const { db, count } = setup();
      const first = await prepare('a', [ev('X', {}, { id: 'dup' })]);
      appendInTransaction(db, 'a', first, 'any');
      const batch = await prepare('b', [ev('Y'), ev('X', {}, { id: 'dup' })]);
      db.transaction(() => {
        db.prepare("INSERT INTO read_model VALUES ('kept', 1)").run();
        expect(() => appendInTransaction(db, 'b', batch, 'any')).toThrow(DuplicateEventIdError);
        expect(() => appendInTransaction(db, 'a', [], 5)).toSatisfy((fn: () => void) => {
          const error = catchSync(fn);
          return isConcurrencyError(error);
        });
      }).immediate();
      expect(count('SELECT count(*) FROM read_model')).toBe(1);
      expect(count('SELECT count(*) FROM causeway_events')).toBe(1);
      expect(count("SELECT count(*) FROM causeway_streams WHERE stream_id = 'b'")).toBe(0);
    });
  });

  describe('two processes on one file', () => {
    it('interleave appends safely and a third connection sees every event once, in order', async () => {
      const filename = nextFile();
      const store = open({ filename });
      const rounds = 150;
      const seen: number[] = [];
      const sub = store.subscribe('all', (e) => void seen.push(e.globalPosition), {
        pollIntervalMs: 20,
        batchSize: 13,
      });
      await Promise.all([runWriter(filename, 'a', rounds), runWriter(filename, 'b', rounds)]);

      const log = await collect(store.readAll());
      // Per writer and round: one private event and one contended shared-stream event.
      expect(log).toHaveLength(4 * rounds);
      const shared = await collect(store.readStream('shared'));
      expect(shared.map((e) => e.streamVersion)).toEqual(
        Array.from({ length: 2 * rounds }, (_, i) => i + 1),
      );
      // The round barrier forces the processes to alternate: each round holds one of each.
      const order = shared.map((e) => (e.data as { writer: string }).writer);
      for (let round = 0; round < rounds; round++) {
        expect(order.slice(2 * round, 2 * round + 2).sort()).toEqual(['a', 'b']);
      }
      await sub.waitForPosition(await store.headPosition(), { timeoutMs: 20_000 });
      expect(seen).toEqual(log.map((e) => e.globalPosition));
      await sub.stop();
    }, 60_000);
  });
});

/**
 * A writer in its own Node process. Each round it appends to a private stream, then to a
 * shared stream with an exact expected version, retrying on conflict. Before a round it waits
 * until the other process has finished the previous one (a barrier through the file), so the
 * two really overlap however the OS schedules them. Plain JavaScript: it goes through `node -e`.
 */
function runWriter(filename: string, writer: string, rounds: number): Promise<void> {
  const code = `
    import { createSqliteEventStore } from 'causeway/sqlite';
    import { isConcurrencyError } from 'causeway';
    const store = createSqliteEventStore({ filename: ${JSON.stringify(filename)} });
    const writer = ${JSON.stringify(writer)};
    const sharedVersion = async () => (await store.getStream('shared'))?.version ?? 0;
    const deadline = Date.now() + 30_000;
    for (let i = 0; i < ${rounds}; i++) {
      while ((await sharedVersion()) < 2 * i) {
        if (Date.now() > deadline) throw new Error(writer + ' waited too long at round ' + i);
        await new Promise((r) => setTimeout(r, 1));
      }
      await store.appendToStream(writer + '-' + (i % 7), [{ type: 'Private', data: { writer, i } }]);
      for (;;) {
        try {
          await store.appendToStream('shared', [{ type: 'Shared', data: { writer, i } }], {
            expectedVersion: await sharedVersion(),
          });
          break;
        } catch (error) {
          if (!isConcurrencyError(error)) throw error;
        }
      }
    }
    await store.close();
  `;
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', code],
    { cwd: resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'inherit', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<void>((resolveDone, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolveDone() : reject(new Error(`writer ${writer} exited ${code}: ${stderr}`)),
    );
  });
}

function catchSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
