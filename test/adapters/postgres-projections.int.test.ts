import { spawnRunner } from './fixtures/spawn-runner.js';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  defineProjection,
  defineTable,
  LeaseLostError,
  ProjectionRunner,
  rebuildBlueGreen,
  sleep,
  type EventStore,
  type EventStoreOptions,
  type ReadModelSession,
} from 'causeway';
import {
  appendInTransaction,
  createPostgresEventStore,
  createPostgresProjectionStore,
  type PostgresProjectionStore,
} from 'causeway/postgres';
import { collect, eventually } from 'causeway/testing';
import { projectionContract } from '../contracts/projection.contract.js';
import { replayCounts, seedTicks, tallies, tallyProjection } from './fixtures/tally-projection.js';

const url =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';
const admin = new pg.Pool({ connectionString: url, max: 4 });
const schemas: string[] = [];

function freshSchema(): string {
  const schema = `cw_proj_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

async function dropSchemas(): Promise<void> {
  for (const schema of schemas.splice(0))
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

afterAll(async () => {
  await dropSchemas();
  await admin.end();
});

/** An event store and a projection store on one new pool: one process's view of `schema`. */
async function openBackend(schema: string, options?: EventStoreOptions) {
  const pool = new pg.Pool({ connectionString: url, max: 6 });
  pool.on('error', () => undefined);
  const store = await createPostgresEventStore({ ...options, pool, schema });
  const projections = await createPostgresProjectionStore({ pool, schema });
  const close = async () => {
    await store.close();
    await projections.close();
    await pool.end();
  };
  return { store, projections, pool, schema, close };
}

projectionContract({
  name: 'postgres',
  async create(options) {
    const schema = freshSchema();
    const opened: { close(): Promise<void> }[] = [];
    const open = async (again?: EventStoreOptions) => {
      const backend = await openBackend(schema, again);
      opened.push(backend);
      return backend;
    };
    const { store, projections } = await open(options);
    return {
      store,
      projections,
      // Another process: a new pool and new stores on the same schema.
      reopen: open,
      close: async () => {
        for (const backend of opened.splice(0).reverse()) await backend.close();
      },
    };
  },
  cleanup: dropSchemas,
});

describe('PostgreSQL projection store', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const open = async (schema = freshSchema(), options?: EventStoreOptions) => {
    const backend = await openBackend(schema, options);
    cleanups.push(backend.close);
    return backend;
  };
  const runner = (options: ConstructorParameters<typeof ProjectionRunner>[0]) => {
    const r = new ProjectionRunner({ pollIntervalMs: 20, ...options });
    cleanups.push(() => r.stop());
    return r;
  };
  const counts = (rows: readonly { id: string; count: number | string }[]) =>
    Object.fromEntries(rows.map((r) => [r.id, Number(r.count)]));

  describe('tables and views', () => {
    it('blue/green switches the view atomically: raw SQL on the logical name sees v1, then v2', async () => {
      const { store, projections, schema } = await open();
      await seedTicks(store, 300);
      const raw = async () =>
        counts(
          (
            await admin.query<{ id: string; count: string }>(
              `SELECT id, count FROM "${schema}".tallies`,
            )
          ).rows,
        );
      const v1 = runner({ store, projections, projection: tallyProjection(1) });
      await v1.waitForPosition(await store.headPosition());
      const all = await replayCounts(store);
      expect(await raw()).toEqual(all);

      const v2 = tallyProjection(2, ['Tick']);
      await projections.prepare(v2);
      expect(await raw()).toEqual(all);
      // Readers hammer the view during the switch: each sees v1 or v2, never an error.
      const ticks = await replayCounts(store, ['Tick']);
      let switching = true;
      const seen = new Set<string>();
      const readers = Array.from({ length: 3 }, async () => {
        while (switching) {
          const now = await raw();
          seen.add(JSON.stringify(now) === JSON.stringify(all) ? 'v1' : 'other');
          if (JSON.stringify(now) !== JSON.stringify(all)) expect(now).toEqual(ticks);
        }
      });
      await rebuildBlueGreen({ store, projections, projection: v2 });
      switching = false;
      await Promise.all(readers);
      expect(seen.has('v1')).toBe(true);
      expect(await raw()).toEqual(ticks);
      const viaSession = await projections
        .reader()
        .sql!.query<{ id: string; count: number }>(
          'SELECT id, count FROM tallies WHERE count > $1',
          [0],
        );
      expect(counts(viaSession)).toEqual(ticks);
      const { rows } = await admin.query<{ def: string }>(
        `SELECT pg_get_viewdef(to_regclass($1)) AS def`,
        [`"${schema}".tallies`],
      );
      expect(rows[0]?.def).toContain('tallies_v2');

      // Dropping the retired version removes its table; the view keeps serving v2.
      await projections.drop('tally', 1, [tallies]);
      const gone = await admin.query(`SELECT to_regclass($1) AS t`, [`"${schema}".tallies_v1`]);
      expect(gone.rows[0]).toEqual({ t: null });
      expect(await raw()).toEqual(ticks);
      expect(await projections.get('tally', 1)).toBeUndefined();
    });

    it('stores natural PostgreSQL types, round-trips Dates to the millisecond, refuses a changed table without a version bump', async () => {
      interface Item extends Record<string, unknown> {
        id: number;
        label: string;
        price: number;
        active: boolean;
        tags: string[];
        at: Date | null;
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
      const { projections, schema } = await open();
      await projections.prepare(projection);
      await projections.acquireLease('items', 1, 'me', 10_000);
      const at = new Date('2026-02-03T04:05:06.789Z');
      await projections.applyBatch(projection, 'me', 0, 0, async (session) => {
        const t = session.table(items);
        await t.upsert({ id: 1, label: 'a', price: 1.5, active: true, tags: ['x'], at });
        await t.upsert({ id: 2, label: 'b', price: 2, active: false, tags: [], at: null });
        await t.upsert({ id: 2 ** 40, label: 'big', price: -0.25, active: false, tags: [], at });
      });
      const types = await admin.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns
          WHERE table_schema = $1 AND table_name = 'items_v1' ORDER BY ordinal_position`,
        [schema],
      );
      expect(types.rows.map((r) => `${r.column_name} ${r.data_type}`)).toEqual([
        'id bigint',
        'label text',
        'price double precision',
        'active boolean',
        'tags jsonb',
        'at timestamp with time zone',
      ]);
      const indexes = await admin.query<{ indexdef: string }>(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'items_v1' ORDER BY indexname`,
        [schema],
      );
      expect(indexes.rows.map((r) => r.indexdef).join('\n')).toMatch(/\(active, at\)/);
      const natural = await admin.query(
        `SELECT tags->>0 AS tag, (extract(epoch FROM at) * 1000)::bigint AS ms FROM "${schema}".items WHERE active`,
      );
      expect(natural.rows).toEqual([{ tag: 'x', ms: String(at.getTime()) }]);

      const t = projections.reader().table(items);
      expect(await t.find({ where: { active: true, at } })).toEqual([
        { id: 1, label: 'a', price: 1.5, active: true, tags: ['x'], at },
      ]);
      expect(await t.find({ orderBy: 'at', order: 'asc' })).toMatchObject([
        { id: 2, at: null },
        { id: 1 },
        { id: 2 ** 40 },
      ]);
      expect(await t.count({ at: null })).toBe(1);
      const [viaSql] = await projections
        .reader()
        .sql!.query<{ id: unknown; n: unknown }>('SELECT max(id) AS id, count(*) AS n FROM items');
      expect(viaSql).toEqual({ id: 2 ** 40, n: 3 });
      await expect(
        t.upsert({ id: 3, label: 'c', price: 0, active: true, tags: [], at }),
      ).rejects.toMatchObject({ code: 'VALIDATION' });

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

  describe('batches and leases', () => {
    it('nobody sees an in-flight batch; a failed batch leaves nothing; a session ends with its batch; reader() is read-only', async () => {
      const { projections, schema } = await open();
      const other = await open(schema);
      const projection = tallyProjection();
      await projections.prepare(projection);
      await projections.acquireLease('tally', 1, 'me', 10_000);
      const row = { id: 's', count: 1, last_position: 1 };
      let session: ReadModelSession | undefined;
      await projections.applyBatch(projection, 'me', 0, 1, async (s) => {
        session = s;
        await s.table(tallies).upsert(row);
        expect(await s.table(tallies).findById('s')).toEqual(row);
        // Raw SQL in a handler finds the physical tables by their bare names.
        expect(await s.sql!.query('SELECT count FROM tallies_v1 WHERE id = $1', ['s'])).toEqual([
          { count: 1 },
        ]);
        expect(await projections.reader().table(tallies).findById('s')).toBeUndefined();
        expect(await other.projections.reader().table(tallies).count()).toBe(0);
        expect((await projections.get('tally', 1))?.position).toBe(0);
      });
      expect(await other.projections.reader().table(tallies).findById('s')).toEqual(row);
      expect((await other.projections.get('tally', 1))?.position).toBe(1);
      await expect(session!.table(tallies).findById('s')).rejects.toMatchObject({
        code: 'VALIDATION',
      });

      const failed = await projections
        .applyBatch(projection, 'me', 1, 2, async (s) => {
          await s.table(tallies).upsert({ id: 't', count: 1, last_position: 2 });
          expect(
            await s.sql!.execute('UPDATE tallies_v1 SET count = count + $1 WHERE id = $2', [
              10,
              's',
            ]),
          ).toBe(1);
          throw new Error('handler failed');
        })
        .catch((e: unknown) => e);
      expect(failed).toMatchObject({ message: 'handler failed' });
      expect(await projections.reader().table(tallies).find()).toEqual([row]);
      expect((await projections.get('tally', 1))?.position).toBe(1);

      const reader = projections.reader().sql!;
      await expect(reader.execute('DELETE FROM tallies')).rejects.toMatchObject({
        code: 'VALIDATION',
      });
      // Through query() too: the database itself refuses (the view is auto-updatable).
      await expect(reader.query('DELETE FROM tallies RETURNING id')).rejects.toMatchObject({
        code: 'VALIDATION',
      });
      await expect(reader.query('COMMIT')).rejects.toMatchObject({ code: 'VALIDATION' });
      // One statement per call: a second one cannot end the transaction and write after it.
      await expect(reader.query('SELECT 1; COMMIT; DELETE FROM tallies')).rejects.toMatchObject({
        code: '42601',
      });
      expect(await projections.reader().table(tallies).count()).toBe(1);
    });

    it('leases run on the database clock, whatever the local clock says', async () => {
      const { projections } = await open();
      await projections.prepare(tallyProjection());
      expect(await projections.acquireLease('tally', 1, 'a', 60_000)).toBe(true);
      const [{ now }] = (await admin.query<{ now: Date }>('SELECT now()')).rows as [{ now: Date }];
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        // A host whose clock runs a century ahead would think the lease long expired.
        vi.setSystemTime(new Date('2126-01-01T00:00:00Z'));
        expect(await projections.acquireLease('tally', 1, 'b', 60_000)).toBe(false);
      } finally {
        vi.useRealTimers();
      }
      const state = (await projections.get('tally', 1))!;
      expect(state.leaseOwner).toBe('a');
      expect(Math.abs(state.leaseExpiresAt!.getTime() - now.getTime() - 60_000)).toBeLessThan(
        5_000,
      );
      await expect(
        projections.applyBatch(tallyProjection(), 'b', 0, 1, async () => {}),
      ).rejects.toBeInstanceOf(LeaseLostError);
      await expect(
        projections.applyBatch(tallyProjection(), 'a', 5, 6, async () => {}),
      ).rejects.toMatchObject({ code: 'LEASE_LOST' });
      await expect(projections.acquireLease('nope', 1, 'a', 1_000)).rejects.toMatchObject({
        code: 'VALIDATION',
      });
    });

    it('a runner taking over an expired lease waits for the batch in flight and sees its checkpoint', async () => {
      const { projections, schema } = await open();
      const other = await open(schema);
      const projection = tallyProjection();
      await projections.prepare(projection);
      await projections.acquireLease('tally', 1, 'old', 300);
      const stateTable = `"${schema}".causeway_projections`;
      let takeover: Promise<boolean> | undefined;
      await projections.applyBatch(projection, 'old', 0, 7, async (s) => {
        await s.table(tallies).upsert({ id: 'x', count: 1, last_position: 7 });
        await eventually(
          async () =>
            (
              await admin.query(
                `SELECT 1 FROM ${stateTable} WHERE lease_expires_at < clock_timestamp()`,
              )
            ).rows.length === 1,
          { timeoutMs: 5_000 },
        );
        takeover = other.projections.acquireLease('tally', 1, 'new', 10_000);
        // The takeover is queued behind this batch's row lock.
        await eventually(
          async () =>
            (
              await admin.query(
                `SELECT 1 FROM pg_stat_activity
                  WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%causeway_projections%'`,
                [schema],
              )
            ).rows.length > 0,
          { timeoutMs: 5_000 },
        );
      });
      expect(await takeover).toBe(true);
      expect(await other.projections.get('tally', 1)).toMatchObject({
        leaseOwner: 'new',
        position: 7,
      });
      await expect(
        projections.applyBatch(projection, 'old', 7, 8, async () => {}),
      ).rejects.toMatchObject({ code: 'LEASE_LOST' });
    });
  });

  describe('inline projections', () => {
    it('inline and plain appends interleave; each inline append commits with its rows or not at all', async () => {
      const schema = freshSchema();
      const { projections } = await open(schema);
      const inlineTally = defineProjection({
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
      const { store: inline } = await open(schema, {
        inline: { store: projections, projections: [{ ...inlineTally, mode: 'inline' }] },
      });
      const { store: plain } = await open(schema);
      const seen: number[] = [];
      const subscription = plain.subscribe('all', (e) => void seen.push(e.globalPosition), {
        pollIntervalMs: 5,
      });
      cleanups.push(() => subscription.stop());
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 40; i++) {
        work.push(
          inline
            .appendToStream(`in-${i % 4}`, [
              { type: 'Tick', data: {} },
              { type: 'Tick', data: { fail: i % 5 === 4 } },
            ])
            .catch((e: unknown) => e),
          plain.appendToStream(`plain-${i % 3}`, [{ type: 'Tick', data: {} }]),
        );
      }
      const results = await Promise.all(work);
      expect(results.filter((r) => r instanceof Error)).toHaveLength(8);
      const expected = await replayCounts(plain, ['Tick']);
      expect(Object.values(expected).reduce((a, b) => a + b, 0)).toBe(40 + 32 * 2);
      const rows = await projections.reader().table(tallies).find({ orderBy: 'id' });
      expect(counts(rows)).toEqual(
        Object.fromEntries(Object.entries(expected).filter(([k]) => k.startsWith('in-'))),
      );
      await subscription.waitForPosition(await plain.headPosition());
      expect(seen).toEqual((await collect(plain.readAll())).map((e) => e.globalPosition));
    });

    it('refuses a transaction of a store in another schema', async () => {
      const a = await open();
      const crossed = await open(freshSchema(), {
        inline: { store: a.projections, projections: [{ ...tallyProjection(), mode: 'inline' }] },
      });
      await expect(
        crossed.store.appendToStream('s', [{ type: 'Tick', data: {} }]),
      ).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('schema') });
      // Rolled back: no stream, no event (the position it took stays a gap).
      expect(await crossed.store.getStream('s')).toBeUndefined();
      expect(await collect(crossed.store.readAll())).toEqual([]);
    });

    it('works on your own client next to appendInTransaction', async () => {
      const { store, projections, schema } = await open();
      const projection = tallyProjection();
      await projections.prepare(projection);
      const client = await admin.connect();
      try {
        for (const outcome of ['ROLLBACK', 'COMMIT']) {
          await client.query('BEGIN');
          await appendInTransaction(client, 's', [{ type: 'Tick', data: {} }], { schema });
          const session = projections.inlineSession(client, projection);
          await session.table(tallies).upsert({ id: 's', count: 1, last_position: 1 });
          await client.query(outcome);
        }
      } finally {
        client.release();
      }
      expect(await projections.reader().table(tallies).find()).toEqual([
        { id: 's', count: 1, last_position: 1 },
      ]);
      expect((await collect(store.readAll())).map((e) => e.globalPosition)).toEqual([2]);
    });
  });
});

describe('PostgreSQL projections across processes', () => {
  const children: ReturnType<typeof startRunner>[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  it('a runner killed with SIGKILL mid-catch-up is taken over once its lease expires; every event is applied exactly once', async () => {
    const schema = freshSchema();
    const { store, projections, close } = await openBackend(schema);
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
        const child = startRunner(schema, `child-${round}`, leaseTtlMs, 20);
        children.push(child);
        await child.reached(killAt);
        child.kill('SIGKILL');
        await child.exited;
        const killedAt = Date.now();

        const state = (await projections.get('tally', 1))!;
        expect(state.leaseOwner).toBe(`child-${round}`);
        expect(state.position).toBeGreaterThanOrEqual(killAt);
        expect(state.position).toBeLessThan(head);
        await takeOver(store, projections, `successor-${round}`, state, leaseTtlMs, killedAt);
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
      expect(await projections.get('tally', 1)).toMatchObject({ position: head, error: undefined });
    } finally {
      await close();
    }
  }, 90_000);
});

/** A successor starts right after the kill: it must wait out the lease, then advance. */
async function takeOver(
  store: EventStore,
  projections: PostgresProjectionStore,
  owner: string,
  dead: { position: number; leaseExpiresAt: Date | undefined },
  leaseTtlMs: number,
  killedAt: number,
): Promise<void> {
  const successor = new ProjectionRunner({
    store,
    projections,
    projection: tallyProjection(),
    owner,
    leaseTtlMs,
    batchSize: 20,
    pollIntervalMs: 20,
  });
  try {
    await successor.waitForPosition(dead.position + 1, { timeoutMs: 10_000 });
    const tookOver = Date.now();
    // Not before the dead runner's lease ran out, and not much after.
    expect(tookOver).toBeGreaterThanOrEqual(dead.leaseExpiresAt!.getTime());
    expect(tookOver - killedAt).toBeLessThan(leaseTtlMs + 1_500);
    expect((await projections.get('tally', 1))?.leaseOwner).toBe(owner);
  } finally {
    await successor.stop();
  }
}

/** The runner fixture in a child process; `reached` resolves once it has committed `position`. */
function startRunner(schema: string, owner: string, leaseTtlMs: number, batchSize: number) {
  return spawnRunner(
    'postgres-projection-runner.ts',
    [url, schema, owner, String(leaseTtlMs), String(batchSize)],
    owner,
    30_000,
  );
}
