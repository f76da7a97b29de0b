/**
 * The projection contract: read-model tables, async runners with transactional checkpoints
 * and leases, inline projections, rebuilds. Every projection store runs it unchanged.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  defineProjection,
  defineTable,
  isCausewayError,
  ProjectionFailedError,
  ProjectionRunner,
  rebuildBlueGreen,
  rebuildProjection,
  type EventStore,
  type EventStoreOptions,
  type ProjectionDefinition,
  type ProjectionStore,
  type RecordedEvent,
} from 'causeway';
import type { ProjectionBackend, ProjectionHarness } from './projection-harness.js';

interface OrderRow extends Record<string, unknown> {
  id: string;
  customer: string;
  status: string;
  total: number;
  lines: number;
  paid: boolean;
  items: { sku: string; qty: number }[];
  created_at: Date;
}

const orders = defineTable<OrderRow>({
  name: 'orders',
  primaryKey: 'id',
  columns: {
    id: 'text',
    customer: 'text',
    status: 'text',
    total: 'real',
    lines: 'integer',
    paid: 'boolean',
    items: 'json',
    created_at: 'timestamp',
  },
  indexes: [['status'], ['customer', 'created_at']],
});

interface CounterRow extends Record<string, unknown> {
  id: string;
  count: number;
  last_position: number;
}
const counters = defineTable<CounterRow>({
  name: 'counters',
  primaryKey: 'id',
  columns: { id: 'text', count: 'integer', last_position: 'integer' },
});

/** Counts events per stream: applying any event twice, or skipping one, shows in the totals. */
function counterProjection(
  name = 'counter',
  version = 1,
  fail?: (event: RecordedEvent) => boolean,
): ProjectionDefinition {
  const bump = async (
    event: RecordedEvent,
    session: Parameters<ProjectionDefinition['handlers'][string]>[1],
  ) => {
    if (fail?.(event)) throw new Error(`refusing ${event.type} at ${event.globalPosition}`);
    const table = session.table(counters);
    const row = await table.findById(event.streamId);
    if (row && row.last_position >= event.globalPosition)
      throw new Error(`event ${event.globalPosition} applied twice`);
    await table.upsert({
      id: event.streamId,
      count: (row?.count ?? 0) + 1,
      last_position: event.globalPosition,
    });
  };
  return defineProjection({
    name,
    version,
    tables: [counters],
    handlers: { Tick: bump, Tock: bump },
  });
}

const orderProjection = defineProjection({
  name: 'orders',
  tables: [orders],
  handlers: {
    OrderPlaced: async (event, session) => {
      const data = event.data as {
        customer: string;
        items: { sku: string; qty: number; price: number }[];
      };
      await session.table(orders).upsert({
        id: event.streamId,
        customer: data.customer,
        status: 'placed',
        total: data.items.reduce((s, i) => s + i.qty * i.price, 0),
        lines: data.items.length,
        paid: false,
        items: data.items.map(({ sku, qty }) => ({ sku, qty })),
        created_at: event.time,
      });
    },
    OrderPaid: async (event, session) => {
      await session.table(orders).patch(event.streamId, { paid: true, status: 'paid' });
    },
    OrderCancelled: async (event, session) => {
      await session.table(orders).delete(event.streamId);
    },
  },
});

async function appendTicks(store: EventStore, count: number, streams = 5): Promise<number> {
  let last = 0;
  for (let i = 0; i < count; i += 10) {
    const batch = Math.min(10, count - i);
    const result = await store.appendToStream(
      `s-${(i / 10) % streams}`,
      Array.from({ length: batch }, (_, j) => ({
        type: (i + j) % 3 === 0 ? 'Tock' : 'Tick',
        data: { n: i + j },
      })),
    );
    last = result.positions.at(-1)!;
    if (i % 30 === 0) await store.appendToStream('noise', [{ type: 'Ignored', data: {} }]);
  }
  return last;
}

async function expectedCounts(store: EventStore): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for await (const event of store.readAll({ filter: { types: ['Tick', 'Tock'] } }))
    counts[event.streamId] = (counts[event.streamId] ?? 0) + 1;
  return counts;
}

async function actualCounts(projections: ProjectionStore): Promise<Record<string, number>> {
  const rows = await projections.reader().table(counters).find({ orderBy: 'id' });
  return Object.fromEntries(rows.map((r) => [r.id, r.count]));
}

export function projectionContract(harness: ProjectionHarness): void {
  describe(`Projection contract: ${harness.name}`, () => {
    const open: ProjectionBackend[] = [];
    const runners: ProjectionRunner[] = [];
    afterEach(async () => {
      await Promise.all(runners.splice(0).map((r) => r.stop()));
      await Promise.all(open.splice(0).map((b) => b.close()));
    });
    afterAll(() => harness.cleanup());
    const backend = async (options?: EventStoreOptions) => {
      const b = await harness.create(options);
      open.push(b);
      return b;
    };
    const run = (options: ConstructorParameters<typeof ProjectionRunner>[0]) => {
      const runner = new ProjectionRunner({ pollIntervalMs: 20, ...options });
      runners.push(runner);
      return runner;
    };

    describe('read-model tables', () => {
      it('upsert, patch, delete, find by id, query, count — every column type round-trips', async () => {
        const { store, projections } = await backend();
        await projections.prepare(orderProjection);
        const when = new Date('2026-05-01T10:00:00.123Z');
        await projections.acquireLease('orders', 1, 'me', 10_000);
        await projections.applyBatch(orderProjection, 'me', 0, 1, async (session) => {
          const t = session.table(orders);
          await t.upsert({
            id: 'o1',
            customer: 'ada',
            status: 'placed',
            total: 12.5,
            lines: 2,
            paid: false,
            items: [{ sku: 'a', qty: 1 }],
            created_at: when,
          });
          await t.upsert({
            id: 'o2',
            customer: 'bob',
            status: 'placed',
            total: 3,
            lines: 1,
            paid: true,
            items: [],
            created_at: new Date(when.getTime() + 1000),
          });
          await t.upsert({
            id: 'o3',
            customer: 'ada',
            status: 'paid',
            total: 7.25,
            lines: 1,
            paid: true,
            items: [{ sku: 'ü', qty: 3 }],
            created_at: new Date(when.getTime() + 2000),
          });
          expect(await t.patch('o2', { status: 'paid', total: 4 })).toBe(true);
          expect(await t.patch('missing', { status: 'x' })).toBe(false);
          await t.upsert({
            id: 'o1',
            customer: 'ada',
            status: 'placed',
            total: 13.5,
            lines: 2,
            paid: false,
            items: [{ sku: 'a', qty: 1 }],
            created_at: when,
          });
          expect(await t.delete('nope')).toBe(false);
        });
        void store;
        const t = projections.reader().table(orders);
        expect(await t.findById('o1')).toEqual({
          id: 'o1',
          customer: 'ada',
          status: 'placed',
          total: 13.5,
          lines: 2,
          paid: false,
          items: [{ sku: 'a', qty: 1 }],
          created_at: when,
        });
        expect(await t.findById('zzz')).toBeUndefined();
        expect(
          (await t.find({ where: { customer: 'ada' }, orderBy: 'created_at', order: 'desc' })).map(
            (r) => r.id,
          ),
        ).toEqual(['o3', 'o1']);
        expect(
          (await t.find({ where: { status: 'paid', paid: true }, orderBy: 'total' })).map((r) => [
            r.id,
            r.total,
          ]),
        ).toEqual([
          ['o2', 4],
          ['o3', 7.25],
        ]);
        expect((await t.find({ orderBy: 'id', limit: 2, offset: 1 })).map((r) => r.id)).toEqual([
          'o2',
          'o3',
        ]);
        expect(await t.count()).toBe(3);
        expect(await t.count({ customer: 'ada' })).toBe(2);
      });

      it('rejects bad table definitions with the field path', () => {
        expect(() =>
          defineTable({ name: 'Bad-Name', primaryKey: 'id', columns: { id: 'text' } }),
        ).toThrow(/name/);
        expect(() =>
          defineTable<{ id: string }>({
            name: 'ok',
            primaryKey: 'nope' as 'id',
            columns: { id: 'text' },
          }),
        ).toThrow(/primaryKey/);
      });
    });

    describe('async projections', () => {
      it('builds the read model from the log and keeps up live; the checkpoint is the last position', async () => {
        const { store, projections } = await backend();
        await store.appendToStream('order-1', [
          {
            type: 'OrderPlaced',
            data: { customer: 'ada', items: [{ sku: 'a', qty: 2, price: 5 }] },
          },
        ]);
        await store.appendToStream('order-2', [
          {
            type: 'OrderPlaced',
            data: { customer: 'bob', items: [{ sku: 'b', qty: 1, price: 1 }] },
          },
        ]);
        const runner = run({ store, projections, projection: orderProjection });
        await runner.waitForPosition(await store.headPosition());
        const t = projections.reader().table(orders);
        expect(await t.count()).toBe(2);
        const paid = await store.appendToStream('order-1', [{ type: 'OrderPaid', data: {} }]);
        const cancelled = await store.appendToStream('order-2', [
          { type: 'OrderCancelled', data: {} },
        ]);
        await runner.waitForPosition(cancelled.positions[0]!);
        expect(await t.find()).toEqual([
          expect.objectContaining({ id: 'order-1', status: 'paid', paid: true, total: 10 }),
        ]);
        expect((await projections.get('orders', 1))?.position).toBe(cancelled.positions[0]);
        expect(paid.positions[0]).toBeLessThan(cancelled.positions[0]!);
      });

      it('a failing batch commits nothing, is retried, then marks the projection failed with the position', async () => {
        const { store, projections } = await backend();
        await appendTicks(store, 30);
        const poison = (
          await store.appendToStream('s-poison', [{ type: 'Tick', data: { poison: true } }])
        ).positions[0]!;
        await appendTicks(store, 10);
        const failing = counterProjection(
          'counter',
          1,
          (e) => (e.data as { poison?: boolean }).poison === true,
        );
        const runner = run({
          store,
          projections,
          projection: failing,
          batchSize: 1000,
          retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
        });
        const error = await runner.done.catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ProjectionFailedError);
        expect(error).toMatchObject({ code: 'PROJECTION_FAILED', position: poison });
        const state = await projections.get('counter', 1);
        expect(state?.position).toBe(0);
        expect(state?.error).toContain(`position ${poison}`);
        expect(await actualCounts(projections)).toEqual({});

        // Fixed code resumes from the checkpoint and ends equal to a replay.
        const fixed = run({ store, projections, projection: counterProjection() });
        await fixed.waitForPosition(await store.headPosition());
        expect(await actualCounts(projections)).toEqual(await expectedCounts(store));
        expect((await projections.get('counter', 1))?.error).toBeUndefined();
      });

      it('stopping mid-way and restarting (another process) ends equal to a replay, nothing applied twice', async () => {
        const b = await backend();
        await appendTicks(b.store, 200);
        for (let round = 0; round < 4; round++) {
          const other = await b.reopen();
          const runner = run({
            store: other.store,
            projections: other.projections,
            projection: counterProjection(),
            batchSize: 17,
          });
          await runner.waitForPosition(
            Math.floor(((round + 1) * (await b.store.headPosition())) / 5),
          );
          await runner.stop();
          await appendTicks(b.store, 20);
        }
        const last = run({
          store: b.store,
          projections: b.projections,
          projection: counterProjection(),
          batchSize: 17,
        });
        await last.waitForPosition(await b.store.headPosition());
        expect(await actualCounts(b.projections)).toEqual(await expectedCounts(b.store));
      });

      it('two runners for one projection: one holds the lease, the other stands by; the read model is exact', async () => {
        const b = await backend();
        const other = await b.reopen();
        const a = run({
          store: b.store,
          projections: b.projections,
          projection: counterProjection(),
          batchSize: 7,
          owner: 'runner-a',
        });
        const c = run({
          store: other.store,
          projections: other.projections,
          projection: counterProjection(),
          batchSize: 7,
          owner: 'runner-c',
        });
        const head = await appendTicks(b.store, 150);
        await Promise.race([a.waitForPosition(head), c.waitForPosition(head)]);
        // Reaching head with a full page, a runner reads once more before it is live.
        await Promise.race([a.caughtUp(), c.caughtUp()]);
        expect([a.state, c.state].sort()).toEqual(['live', 'standby']);
        expect(await actualCounts(b.projections)).toEqual(await expectedCounts(b.store));
        expect((await b.projections.get('counter', 1))?.leaseOwner).toMatch(/^runner-[ac]$/);
      });

      it('takes over from a runner that died holding the lease, once the lease expires', async () => {
        const { store, projections } = await backend();
        const projection = counterProjection();
        await projections.prepare(projection);
        expect(await projections.acquireLease('counter', 1, 'dead-runner', 300)).toBe(true);
        const head = await appendTicks(store, 20);
        const runner = run({ store, projections, projection, leaseTtlMs: 300, owner: 'successor' });
        await runner.waitForPosition(head, { timeoutMs: 5_000 });
        expect((await projections.get('counter', 1))?.leaseOwner).toBe('successor');
        expect(await actualCounts(projections)).toEqual(await expectedCounts(store));
      });

      it('a paused projection is not advanced until resumed', async () => {
        const { store, projections } = await backend();
        const runner = run({
          store,
          projections,
          projection: counterProjection(),
          leaseTtlMs: 150,
        });
        await appendTicks(store, 10);
        const first = await store.headPosition();
        await runner.waitForPosition(first);
        await projections.setPaused('counter', 1, true);
        // The runner notices at its next heartbeat and lets go of the lease.
        while (runner.state !== 'paused') await new Promise((r) => setTimeout(r, 10));
        await appendTicks(store, 10);
        expect((await projections.get('counter', 1))?.position).toBe(first);
        await projections.setPaused('counter', 1, false);
        await runner.waitForPosition(await store.headPosition());
        expect(await actualCounts(projections)).toEqual(await expectedCounts(store));
      });
    });

    describe('inline projections', () => {
      it('update the read model in the same transaction as the append', async () => {
        const base = await backend();
        const withInline = await base.reopen({
          inline: {
            store: base.projections,
            projections: [{ ...orderProjection, mode: 'inline' }],
          },
        });
        await withInline.store.appendToStream('order-9', [
          {
            type: 'OrderPlaced',
            data: { customer: 'cy', items: [{ sku: 'x', qty: 1, price: 2 }] },
          },
        ]);
        expect(
          await withInline.projections.reader().table(orders).findById('order-9'),
        ).toMatchObject({ customer: 'cy', total: 2 });
        await withInline.store.close();
      });

      it("refuses a projection not declared with mode: 'inline', and writes nothing", async () => {
        const base = await backend();
        const misdeclared = await base.reopen({
          inline: { store: base.projections, projections: [orderProjection] },
        });
        await expect(
          misdeclared.store.appendToStream('order-x', [{ type: 'OrderPlaced', data: {} }]),
        ).rejects.toMatchObject({
          code: 'VALIDATION',
          issues: [{ path: ['inline', 'projections', 'orders'] }],
        });
        expect(await misdeclared.store.getStream('order-x')).toBeUndefined();
        await misdeclared.store.close();
      });

      it('a failing inline handler fails the append: no events, no rows', async () => {
        const base = await backend();
        const exploding = defineProjection({
          name: 'explodes',
          tables: [orders],
          handlers: {
            OrderPlaced: async (event, session) => {
              await session.table(orders).upsert({
                id: event.streamId,
                customer: 'x',
                status: 's',
                total: 0,
                lines: 0,
                paid: false,
                items: [],
                created_at: event.time,
              });
              if ((event.data as { explode?: boolean }).explode)
                throw new Error('inline handler failed');
            },
          },
        });
        const withInline = await base.reopen({
          inline: { store: base.projections, projections: [{ ...exploding, mode: 'inline' }] },
        });
        await withInline.store.appendToStream('order-ok', [{ type: 'OrderPlaced', data: {} }]);
        const error = await withInline.store
          .appendToStream('order-bad', [
            { type: 'OrderPlaced', data: {} },
            { type: 'OrderPlaced', data: { explode: true } },
          ])
          .catch((e: unknown) => e);
        expect(error).toMatchObject({ message: expect.stringContaining('inline handler failed') });
        expect(await withInline.store.getStream('order-bad')).toBeUndefined();
        const rows = await withInline.projections.reader().table(orders).find();
        expect(rows.map((r) => r.id)).toEqual(['order-ok']);
        expect(isCausewayError(error) || error instanceof Error).toBe(true);
        await withInline.store.close();
      });
    });

    describe('rebuilds', () => {
      it('rebuild in place replays the whole log, reporting progress', async () => {
        const { store, projections } = await backend();
        await appendTicks(store, 120);
        const runner = run({ store, projections, projection: counterProjection() });
        await runner.waitForPosition(await store.headPosition());
        await runner.stop();
        // Damage the read model, as a buggy deploy would.
        await projections.acquireLease('counter', 1, 'vandal', 1_000);
        const position = (await projections.get('counter', 1))!.position;
        await projections.applyBatch(
          counterProjection(),
          'vandal',
          position,
          position,
          async (s) => {
            await s.table(counters).upsert({ id: 's-0', count: 999, last_position: 0 });
          },
        );
        await projections.releaseLease('counter', 1, 'vandal');
        const progress: number[] = [];
        const result = await rebuildProjection({
          store,
          projections,
          projection: counterProjection(),
          batchSize: 25,
          onProgress: (p) => progress.push(p.position),
        });
        expect(result.position).toBe(await store.headPosition());
        expect(await actualCounts(projections)).toEqual(await expectedCounts(store));
        expect(progress.length).toBeGreaterThan(1);
        expect((await projections.get('counter', 1))?.paused).toBe(false);
      });

      it('blue/green: version 2 builds in new tables while version 1 serves, then switches atomically', async () => {
        const { store, projections } = await backend();
        await appendTicks(store, 60);
        const v1 = run({ store, projections, projection: counterProjection('counter', 1) });
        await v1.waitForPosition(await store.headPosition());
        const v1Counts = await actualCounts(projections);

        // v2 counts only Tick events: visibly different from v1.
        const v2 = defineProjection({
          name: 'counter',
          version: 2,
          tables: [counters],
          handlers: {
            Tick: async (event, session) => {
              const t = session.table(counters);
              const row = await t.findById(event.streamId);
              await t.upsert({
                id: event.streamId,
                count: (row?.count ?? 0) + 1,
                last_position: event.globalPosition,
              });
            },
          },
        });
        await projections.prepare(v2);
        expect((await projections.get('counter', 2))?.status).toBe('building');
        expect(await actualCounts(projections)).toEqual(v1Counts);
        await rebuildBlueGreen({ store, projections, projection: v2 });
        expect((await projections.get('counter', 2))?.status).toBe('active');
        expect((await projections.get('counter', 1))?.status).toBe('retired');
        const ticks: Record<string, number> = {};
        for await (const e of store.readAll({ filter: { types: ['Tick'] } }))
          ticks[e.streamId] = (ticks[e.streamId] ?? 0) + 1;
        expect(await actualCounts(projections)).toEqual(ticks);
        await expect(
          rebuildBlueGreen({ store, projections, projection: v2 }),
        ).rejects.toMatchObject({ code: 'VALIDATION' });
      });
    });
  });
}
