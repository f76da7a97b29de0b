import { spawnRunner } from './fixtures/spawn-runner.js';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createEventStore,
  DEFAULT_LIMITS,
  defineProjection,
  defineTable,
  EventRegistry,
  prepareEvents,
  ProjectionRunner,
  rebuildBlueGreen,
  sleep,
  systemClock,
  type EventStore,
  type EventStoreOptions,
  type ReadModelSession,
} from 'causeway';
import {
  appendInTransaction,
  createSqliteProjectionStore,
  runSerialized,
  SqliteEventStoreDriver,
  type SqliteProjectionStore,
} from 'causeway/sqlite';
import { projectionContract } from '../contracts/projection.contract.js';
import { replayCounts, seedTicks, tallies, tallyProjection } from './fixtures/tally-projection.js';

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

const root = mkdtempSync(join(tmpdir(), 'causeway-sqlite-projections-'));
let files = 0;
const nextFile = () => join(root, `store-${++files}.db`);

describe('SQLite projection store', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const open = (filename = nextFile(), options?: EventStoreOptions) => {
    const backend = openBackend(filename, options);
    cleanups.push(async () => {
      await backend.store.close();
      await backend.projections.close();
    });
    return { ...backend, filename };
  };
  const plain = (filename: string) => {
    const db = new Database(filename, { readonly: true });
    cleanups.push(() => void db.close());
    return db;
  };
  const runner = (options: ConstructorParameters<typeof ProjectionRunner>[0]) => {
    const r = new ProjectionRunner({ pollIntervalMs: 20, ...options });
    cleanups.push(() => r.stop());
    return r;
  };

  describe('tables and views', () => {
    it('blue/green switches the view: raw SQL on the logical name sees v2 once it is active', async () => {
      const { store, projections, filename } = open();
      await seedTicks(store, 300);
      const raw = plain(filename);
      const rawCounts = () =>
        Object.fromEntries(
          raw
            .prepare<[], { id: string; count: number }>('SELECT id, count FROM tallies')
            .all()
            .map((r) => [r.id, r.count]),
        );
      const v1 = runner({ store, projections, projection: tallyProjection(1) });
      await v1.waitForPosition(await store.headPosition());
      expect(rawCounts()).toEqual(await replayCounts(store));

      const v2 = tallyProjection(2, ['Tick']);
      await projections.prepare(v2);
      expect(rawCounts()).toEqual(await replayCounts(store));
      await rebuildBlueGreen({ store, projections, projection: v2 });
      const ticks = await replayCounts(store, ['Tick']);
      expect(rawCounts()).toEqual(ticks);
      const viaSession = await projections
        .reader()
        .sql!.query<{ id: string; count: number }>(
          'SELECT id, count FROM tallies WHERE count > ?',
          [0],
        );
      expect(Object.fromEntries(viaSession.map((r) => [r.id, r.count]))).toEqual(ticks);
      expect(
        raw
          .prepare("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'tallies'")
          .pluck()
          .get(),
      ).toContain('"tallies_v2"');

      // Dropping the retired version removes its table; the view keeps serving v2.
      await projections.drop('tally', 1, [tallies]);
      expect(
        raw.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'tallies_v1'").pluck().get(),
      ).toBe(0);
      expect(rawCounts()).toEqual(ticks);
      expect(await projections.get('tally', 1)).toBeUndefined();
    });

    it('stores natural SQL types and refuses a changed table without a version bump', async () => {
      interface Item extends Record<string, unknown> {
        id: number;
        label: string;
        price: number;
        active: boolean;
        tags: string[];
        at: Date;
      }
      const items = defineTable<Item>({
        name: 'items',
        primaryKey: 'id',
        columns: {
          id: 'integer',
          label: 'text',
          price: 'real',
          active: 'boolean',
          tags: 'json',
          at: 'timestamp',
        },
        indexes: [['active', 'at']],
      });
      const projection = defineProjection({
        name: 'items',
        tables: [items],
        handlers: { X: () => {} },
      });
      const { projections, filename } = open();
      await projections.prepare(projection);
      await projections.acquireLease('items', 1, 'me', 10_000);
      const at = new Date('2026-02-03T04:05:06.789Z');
      await projections.applyBatch(projection, 'me', 0, 0, async (session) => {
        await session
          .table(items)
          .upsert({ id: 1, label: 'a', price: 1.5, active: true, tags: ['x'], at });
        await session
          .table(items)
          .upsert({ id: 2, label: 'b', price: 2, active: false, tags: [], at });
      });
      expect(plain(filename).prepare('SELECT * FROM items ORDER BY id').all()).toEqual([
        { id: 1, label: 'a', price: 1.5, active: 1, tags: '["x"]', at: at.getTime() },
        { id: 2, label: 'b', price: 2, active: 0, tags: '[]', at: at.getTime() },
      ]);
      const t = projections.reader().table(items);
      expect(await t.find({ where: { active: true, at } })).toEqual([
        { id: 1, label: 'a', price: 1.5, active: true, tags: ['x'], at },
      ]);
      await expect(
        t.upsert({ id: 3, label: 'c', price: 0, active: true, tags: [], at }),
      ).rejects.toMatchObject({
        code: 'VALIDATION',
      });

      const changed = defineProjection({
        name: 'items',
        tables: [{ ...items, columns: { ...items.columns, label: 'integer' } }],
        handlers: { X: () => {} },
      });
      await expect(projections.prepare(changed)).rejects.toMatchObject({
        code: 'VALIDATION',
        message: expect.stringContaining('bump the projection version'),
      });
    });
  });

  describe('batches', () => {
    it('reader() and other connections never see the rows of an in-flight batch; a failed batch leaves none', async () => {
      const { projections, filename } = open();
      const other = open(filename);
      const raw = plain(filename);
      const projection = tallyProjection();
      await projections.prepare(projection);
      await projections.acquireLease('tally', 1, 'me', 10_000);
      const row = { id: 's', count: 1, last_position: 1 };
      let session: ReadModelSession | undefined;
      await projections.applyBatch(projection, 'me', 0, 1, async (s) => {
        session = s;
        await s.table(tallies).upsert(row);
        expect(await s.table(tallies).findById('s')).toEqual(row);
        expect(await s.sql!.query('SELECT count FROM tallies_v1 WHERE id = ?', ['s'])).toEqual([
          { count: 1 },
        ]);
        expect(await projections.reader().table(tallies).findById('s')).toBeUndefined();
        expect(await other.projections.reader().table(tallies).count()).toBe(0);
        expect(raw.prepare('SELECT count(*) FROM tallies').pluck().get()).toBe(0);
        expect((await projections.get('tally', 1))?.position).toBe(0);
      });
      expect(await projections.reader().table(tallies).findById('s')).toEqual(row);
      expect((await other.projections.get('tally', 1))?.position).toBe(1);
      // A session is only good inside its batch.
      await expect(session!.table(tallies).findById('s')).rejects.toMatchObject({
        code: 'VALIDATION',
      });

      const failed = await projections
        .applyBatch(projection, 'me', 1, 2, async (s) => {
          await s.table(tallies).upsert({ id: 't', count: 1, last_position: 2 });
          await s.sql!.execute('UPDATE tallies_v1 SET count = count + ? WHERE id = ?', [10, 's']);
          throw new Error('handler failed');
        })
        .catch((e: unknown) => e);
      expect(failed).toMatchObject({ message: 'handler failed' });
      expect(await projections.reader().table(tallies).find()).toEqual([row]);
      expect((await projections.get('tally', 1))?.position).toBe(1);
      await expect(projections.reader().sql!.execute('DELETE FROM tallies')).rejects.toMatchObject({
        code: 'VALIDATION',
      });
    });

    it('an append in the same process waits for an open batch without blocking the event loop', async () => {
      const { store, projections, filename } = open();
      const user = new Database(filename);
      cleanups.push(() => void user.close());
      user.exec('CREATE TABLE notes (x INTEGER)');
      const projection = tallyProjection();
      await projections.prepare(projection);
      await projections.acquireLease('tally', 1, 'me', 10_000);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      cleanups.push(() => clearInterval(timer));
      const order: string[] = [];
      const batch = projections.applyBatch(projection, 'me', 0, 0, async (s) => {
        await s.table(tallies).upsert({ id: 'x', count: 1, last_position: 0 });
        await sleep(300);
        order.push('batch');
      });
      await sleep(20);
      const started = Date.now();
      const appended = store
        .appendToStream('s-1', [{ type: 'Tick', data: {} }])
        .then(() => order.push('append'));
      // The application's own writes on its own connection queue the same way.
      const noted = runSerialized(user, () =>
        user.prepare('INSERT INTO notes VALUES (1)').run(),
      ).then(() => order.push('note'));
      // Reads through the event store's connection do not wait: WAL shows them committed data.
      expect(await store.headPosition()).toBe(0);
      await Promise.all([batch, appended, noted]);
      expect(order[0]).toBe('batch');
      expect(order.slice(1).sort()).toEqual(['append', 'note']);
      // Far below the 5 s busy timeout: the append waited asynchronously, timers kept firing.
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(ticks).toBeGreaterThan(20);
      expect(await store.headPosition()).toBe(1);
    });

    it('writing through another connection from inside a batch fails at once instead of waiting for itself', async () => {
      const { store, projections } = open();
      const projection = tallyProjection();
      await projections.prepare(projection);
      await projections.acquireLease('tally', 1, 'me', 10_000);
      const started = Date.now();
      const error = await projections
        .applyBatch(projection, 'me', 0, 1, async () => {
          await store.appendToStream('s-1', [{ type: 'Tick', data: {} }]);
        })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'VALIDATION',
        message: expect.stringContaining('wait for itself'),
      });
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(await store.headPosition()).toBe(0);
      expect((await projections.get('tally', 1))?.position).toBe(0);
    });
  });

  describe('inline projections', () => {
    it('inline and plain appends on one connection interleave; each inline append commits with its rows or not at all', async () => {
      const filename = nextFile();
      const driver = new SqliteEventStoreDriver({ filename });
      const projections = createSqliteProjectionStore({ filename });
      const failing = defineProjection({
        name: 'inline-tally',
        tables: [tallies],
        handlers: {
          Tick: async (event, session) => {
            const t = session.table(tallies);
            const row = await t.findById(event.streamId);
            await t.upsert({
              id: event.streamId,
              count: (row?.count ?? 0) + 1,
              last_position: event.globalPosition,
            });
            await sleep(1);
            if ((event.data as { fail?: boolean }).fail) throw new Error('inline failed');
          },
        },
      });
      const inline = createEventStore(driver, {
        inline: { store: projections, projections: [{ ...failing, mode: 'inline' }] },
      });
      const plainStore = createEventStore(driver);
      cleanups.push(async () => {
        await inline.close();
        await projections.close();
      });
      const seen: number[] = [];
      const subscription = plainStore.subscribe('all', (e) => void seen.push(e.globalPosition), {
        pollIntervalMs: 5,
      });
      cleanups.push(() => subscription.stop());
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 40; i++) {
        const fail = i % 5 === 4;
        work.push(
          inline
            .appendToStream(`in-${i % 4}`, [
              { type: 'Tick', data: {} },
              { type: 'Tick', data: { fail } },
            ])
            .catch((e: unknown) => e),
          plainStore.appendToStream(`plain-${i % 3}`, [{ type: 'Tick', data: {} }]),
        );
      }
      await Promise.all(work);
      const expected = await replayCounts(plainStore, ['Tick']);
      expect(Object.keys(expected).filter((k) => k.startsWith('in-')).length).toBe(4);
      expect(Object.values(expected).reduce((a, b) => a + b, 0)).toBe(40 + 32 * 2);
      const rows = await projections.reader().table(tallies).find({ orderBy: 'id' });
      expect(Object.fromEntries(rows.map((r) => [r.id, r.count]))).toEqual(
        Object.fromEntries(Object.entries(expected).filter(([k]) => k.startsWith('in-'))),
      );
      await subscription.waitForPosition(await plainStore.headPosition());
      const log = [];
      for await (const e of plainStore.readAll()) log.push(e.globalPosition);
      expect(seen).toEqual(log);
    });

    it('writes queued on the event store connection stay out of an open inline append', async () => {
      const filename = nextFile();
      const driver = new SqliteEventStoreDriver({ filename });
      const projections = createSqliteProjectionStore({ filename });
      const slowFailing = defineProjection({
        name: 'slow',
        tables: [tallies],
        handlers: {
          Tick: async (event, session) => {
            await session.table(tallies).upsert({ id: event.streamId, count: 1, last_position: 0 });
            await sleep(100);
            throw new Error('inline failed late');
          },
        },
      });
      const store = createEventStore(driver, {
        inline: { store: projections, projections: [{ ...slowFailing, mode: 'inline' }] },
      });
      cleanups.push(async () => {
        await store.close();
        await projections.close();
      });
      const db = driver.database;
      db.exec('CREATE TABLE notes (x INTEGER)');
      const failed = store
        .appendToStream('s', [{ type: 'Tick', data: {} }])
        .catch((e: unknown) => e);
      await sleep(20);
      // Without the gate this insert would run inside the open append and roll back with it.
      await runSerialized(db, () => db.prepare('INSERT INTO notes VALUES (1)').run());
      expect(await failed).toMatchObject({ message: 'inline failed late' });
      expect(db.prepare('SELECT count(*) FROM notes').pluck().get()).toBe(1);
      expect(await store.headPosition()).toBe(0);
      expect(await projections.reader().table(tallies).count()).toBe(0);
      // A synchronous append cannot wait, so it refuses rather than join the open transaction.
      const pending = store
        .appendToStream('s', [{ type: 'Tick', data: {} }])
        .catch(() => undefined);
      await sleep(20);
      const events = await prepareEvents('t', [{ type: 'Tock', data: {} }], {
        registry: new EventRegistry(),
        limits: DEFAULT_LIMITS,
        clock: systemClock,
      });
      expect(() => appendInTransaction(db, 't', events, 'any')).toThrow(/async transaction/);
      await pending;
    });

    it('refuses a transaction from another file', async () => {
      const a = open();
      const b = open();
      const projection = tallyProjection();
      const crossed = createEventStore(new SqliteEventStoreDriver({ filename: b.filename }), {
        inline: { store: a.projections, projections: [{ ...projection, mode: 'inline' }] },
      });
      cleanups.push(() => crossed.close());
      await expect(crossed.appendToStream('s', [{ type: 'Tick', data: {} }])).rejects.toMatchObject(
        {
          code: 'VALIDATION',
          message: expect.stringContaining('not this projection store'),
        },
      );
      expect(await crossed.headPosition()).toBe(0);
    });
  });
});

describe('SQLite projections across processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'causeway-sqlite-crash-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a runner killed with SIGKILL mid-catch-up is taken over once its lease expires; every event is applied exactly once', async () => {
    const filename = join(dir, 'crash.db');
    const { store, projections } = openBackend(filename);
    const leaseTtlMs = 1_000;
    const projection = tallyProjection();
    try {
      await seedTicks(store, 12_000);
      const head = await store.headPosition();
      for (let round = 0; round < 3; round++) {
        const before = (await projections.get('tally', 1))?.position ?? 0;
        // Somewhere in the next stretch of the log, different on every run.
        const stretch = Math.floor((head - before) / (4 - round));
        const killAt = before + 100 + Math.floor(Math.random() * (stretch - 100));
        const child = startRunner(filename, `child-${round}`, leaseTtlMs, 20);
        children.push(child);
        await child.reached(killAt);
        await sleep(Math.random() * 15);
        child.kill('SIGKILL');
        await child.exited;
        const killedAt = Date.now();

        const state = (await projections.get('tally', 1))!;
        expect(state.leaseOwner).toBe(`child-${round}`);
        expect(state.position).toBeGreaterThanOrEqual(killAt);
        expect(state.position).toBeLessThan(head);
        const successor = new ProjectionRunner({
          store,
          projections,
          projection,
          owner: `successor-${round}`,
          leaseTtlMs,
          batchSize: 20,
          pollIntervalMs: 20,
        });
        try {
          await successor.waitForPosition(state.position + 1, { timeoutMs: 10_000 });
          const tookOver = Date.now();
          // Not before the dead runner's lease ran out, and not much after.
          expect(tookOver).toBeGreaterThanOrEqual(state.leaseExpiresAt!.getTime());
          expect(tookOver - killedAt).toBeLessThan(leaseTtlMs + 1_500);
        } finally {
          await successor.stop();
        }
      }
      const last = new ProjectionRunner({ store, projections, projection, batchSize: 500 });
      try {
        await last.waitForPosition(head, { timeoutMs: 20_000 });
      } finally {
        await last.stop();
      }
      const rows = await projections.reader().table(tallies).find();
      expect(Object.fromEntries(rows.map((r) => [r.id, r.count]))).toEqual(
        await replayCounts(store),
      );
      expect(rows.reduce((sum, r) => sum + r.count, 0)).toBe(12_000);
      const final = await projections.get('tally', 1);
      expect(final).toMatchObject({ position: head, error: undefined });
    } finally {
      await store.close();
      await projections.close();
    }
  }, 60_000);
});

/** The runner fixture in a child process; `reached` resolves once it has committed `position`. */
function startRunner(filename: string, owner: string, leaseTtlMs: number, batchSize: number) {
  return spawnRunner(
    'sqlite-projection-runner.ts',
    [filename, owner, String(leaseTtlMs), String(batchSize)],
    owner,
    20_000,
  );
}
