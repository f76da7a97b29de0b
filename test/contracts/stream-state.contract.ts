/**
 * The stream-state contract: a `StateRepository` under `DurableStateBackend` restores stores,
 * stream times and positions after a reopen, writes a commit all or nothing (state,
 * positions, outbox and table-sink rows), removes expired windows from storage, and fences
 * a process whose scope another one took over. Every repository runs it unchanged.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEAD_LETTER_HEADERS,
  DurableStateBackend,
  isCausewayError,
  StateFencedError,
  StreamRuntime,
  TopologyBuilder,
  Windows,
  streamRecord,
  type OutputRecord,
  type StateRepository,
  type TableSinkSpec,
  type Windowed,
} from 'causeway';

/** One backend for the contract: fresh storage per test, and the revenue table created in it. */
export interface StreamStateHarness {
  readonly name: string;
  create(): Promise<StreamStateFixture>;
  cleanup(): Promise<void>;
}

export interface StreamStateFixture {
  /**
   * The revenue table's name, created as (product text, window_start integer, total number,
   * orders integer) with primary key (product, window_start).
   */
  readonly table: string;
  /** A repository over the fixture's storage, as a new process would open it. */
  repository(tables: readonly TableSinkSpec[]): StateRepository;
  /** The revenue table's rows, as plain numbers and strings, sorted by product then window. */
  tableRows(): Promise<Revenue[]>;
  /** Rows stored for a scope: entries, windows and outbox rows. */
  rowCount(scope: string): Promise<{ keyValues: number; windows: number; outbox: number }>;
  close(): Promise<void>;
}

export interface Revenue {
  product: string;
  window_start: number;
  total: number;
  orders: number;
}

interface Order {
  product: string;
  amount: number;
  poison?: boolean;
}

const SIZE = 1_000;

/**
 * Orders per product: revenue per 1 s tumbling window (updates, into the table), an order
 * count per product (outbox sink `counts`), late orders to `late` (outbox).
 */
function topology() {
  const builder = new TopologyBuilder({ name: 'revenue', deadLetters: 'late' });
  const orders = builder.stream<Order>('orders');
  orders
    .groupBy((order) => order.product)
    .windowedBy(Windows.tumbling({ size: SIZE, grace: 0 }), { emit: 'update' })
    .aggregate(
      'revenue-windows',
      () => ({ total: 0, orders: 0 }),
      (sum, order) => ({
        total: sum.total + order.amount,
        orders: order.poison === true ? -1 : sum.orders + 1,
      }),
    )
    .toStream()
    .to('revenue');
  orders
    .groupBy((order) => order.product)
    .count('order-counts')
    .toStream()
    .to('counts');
  return builder.build();
}

function revenueSink(table: string): TableSinkSpec<Windowed<string>, Revenue> {
  return {
    sink: 'revenue',
    table,
    key: ['product', 'window_start'],
    row: ({ key, value }) => {
      if (value.orders < 0) throw new Error('poisoned row: the commit must roll back');
      return {
        product: key.key,
        window_start: key.window.start,
        total: value.total,
        orders: value.orders,
      };
    },
  };
}

/** A seeded, slightly out-of-order order stream over a few products. */
function orderStream(count: number): { order: Order; time: number }[] {
  let state = 42;
  const random = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 4_294_967_296;
  };
  const out: { order: Order; time: number }[] = [];
  for (let i = 0; i < count; i++) {
    // Mostly forward in time, sometimes 1.5 s back: some of those are late.
    const time = 10_000 + i * 100 - (random() < 0.1 ? 1_500 : 0);
    out.push({
      order: { product: `p${Math.floor(random() * 4)}`, amount: Math.floor(random() * 90) + 10 },
      time,
    });
  }
  return out;
}

export function streamStateContract(harness: StreamStateHarness): void {
  describe(`stream state contract: ${harness.name}`, () => {
    let fixture: StreamStateFixture;
    let scopeSequence = 0;
    let scope: string;

    beforeEach(async () => {
      fixture = await harness.create();
      scope = `revenue-${scopeSequence++}`;
    });
    afterEach(() => fixture.close());
    afterAll(() => harness.cleanup());

    const open = async (options: { takeOver?: boolean; clock?: () => number } = {}) => {
      const backend = await DurableStateBackend.open({
        repository: fixture.repository([revenueSink(fixture.table)]),
        scope,
        leaseMs: 10_000,
        ...options,
      });
      if (!backend) throw new Error('expected to claim the scope');
      return { backend, runtime: new StreamRuntime(topology(), { backend }) };
    };

    const feed = (runtime: StreamRuntime, orders: ReturnType<typeof orderStream>, from = 0) => {
      orders.forEach(({ order, time }, i) => {
        if (i >= from) runtime.process('orders', streamRecord(null, order, time, `orders:${i}`));
      });
    };

    it('a run stopped and reopened after any commit ends with the table, state and outputs of a clean run', async () => {
      const orders = orderStream(200);
      const clean = await open();
      feed(clean.runtime, orders);
      await clean.runtime.commit();
      const expectedRows = await fixture.tableRows();
      const expectedLate = clean.runtime.metrics.lateRecords;
      const expectedOutbox = (await clean.backend.undelivered()).map((o) => o.id).sort();
      expect(expectedLate).toBeGreaterThan(0);
      expect(expectedRows.length).toBeGreaterThan(10);

      // The same input again in a new scope, reopening after every 37 records.
      scope = `${scope}-restarted`;
      await fixture.close();
      fixture = await harness.create();
      let late = 0;
      for (let from = 0; from < orders.length; from += 37) {
        const { backend, runtime } = await open();
        const resume = backend.committedPositions().get('orders');
        expect(resume).toBe(from === 0 ? undefined : `orders:${from - 1}`);
        feed(runtime, orders.slice(0, from + 37), from);
        await runtime.commit();
        late += runtime.metrics.lateRecords;
      }
      expect(await fixture.tableRows()).toEqual(expectedRows);
      expect(late).toBe(expectedLate);
      const { backend } = await open();
      expect((await backend.undelivered()).map((o) => o.id).sort()).toEqual(expectedOutbox);
      const lateOutputs = (await backend.undelivered()).filter((o) => o.sink === 'late');
      expect(lateOutputs).toHaveLength(expectedLate);
      expect(lateOutputs[0]?.headers[DEAD_LETTER_HEADERS.reason]).toBe('late');
    });

    it('restores key-value entries, windows and stream time after a reopen', async () => {
      const first = await open();
      first.runtime.process(
        'orders',
        streamRecord(null, { product: 'a', amount: 5 }, 5_100, 'o:0'),
      );
      first.runtime.process(
        'orders',
        streamRecord(null, { product: 'a', amount: 7 }, 5_900, 'o:1'),
      );
      first.runtime.process(
        'orders',
        streamRecord(null, { product: 'b', amount: 1 }, 6_200, 'o:2'),
      );
      await first.runtime.commit();

      const { backend, runtime } = await open();
      expect(backend.committedPositions().get('orders')).toBe('o:2');
      expect(runtime.store('order-counts')?.size).toBe(2);
      // Window a@5000 closed when stream time reached 6 200: only b@6000 is open.
      expect(runtime.store('revenue-windows')?.size).toBe(1);
      // Stream time 6 200 came back: an order at 5 500 is late, not a new window.
      runtime.process('orders', streamRecord(null, { product: 'a', amount: 100 }, 5_500, 'o:3'));
      runtime.process('orders', streamRecord(null, { product: 'a', amount: 3 }, 6_300, 'o:4'));
      await runtime.commit();
      expect(runtime.metrics.lateRecords).toBe(1);
      expect(await fixture.tableRows()).toEqual([
        { product: 'a', window_start: 5_000, total: 12, orders: 2 },
        { product: 'a', window_start: 6_000, total: 3, orders: 1 },
        { product: 'b', window_start: 6_000, total: 1, orders: 1 },
      ]);
      const counts = (await backend.undelivered()).filter((o) => o.sink === 'counts');
      expect(counts.map((o) => [o.key, o.value])).toEqual([
        ['a', 1],
        ['a', 2],
        ['b', 1],
        ['a', 3],
        ['a', 4],
      ]);
    });

    it('writes a commit all or nothing: a failing table row leaves state, positions, outbox and table as before', async () => {
      const { runtime } = await open();
      runtime.process('orders', streamRecord(null, { product: 'a', amount: 5 }, 5_100, 'o:0'));
      await runtime.commit();
      const before = await fixture.rowCount(scope);
      const rowsBefore = await fixture.tableRows();

      runtime.process('orders', streamRecord(null, { product: 'b', amount: 9 }, 5_200, 'o:1'));
      runtime.process(
        'orders',
        streamRecord(null, { product: 'c', amount: 1, poison: true }, 5_300, 'o:2'),
      );
      await expect(runtime.commit()).rejects.toThrow(/poisoned row/);

      expect(await fixture.rowCount(scope)).toEqual(before);
      expect(await fixture.tableRows()).toEqual(rowsBefore);
      const reopened = await open();
      expect(reopened.backend.committedPositions().get('orders')).toBe('o:0');
      expect(reopened.runtime.store('order-counts')?.size).toBe(1);
      expect(reopened.runtime.store('revenue-windows')?.size).toBe(1);
    });

    it('removes expired windows from storage, not only from memory', async () => {
      const { runtime } = await open();
      for (let i = 0; i < 20; i++) {
        runtime.process(
          'orders',
          streamRecord(null, { product: `p${i % 5}`, amount: 1 }, 1_000 + i * 40, `o:${i}`),
        );
      }
      await runtime.commit();
      expect((await fixture.rowCount(scope)).windows).toBe(5);
      // Time moves three windows on: only the window of the last order stays open.
      runtime.process('orders', streamRecord(null, { product: 'p0', amount: 1 }, 4_100, 'o:20'));
      await runtime.commit();
      expect((await fixture.rowCount(scope)).windows).toBe(1);
      const reopened = await open();
      expect(reopened.runtime.store('revenue-windows')?.size).toBe(1);
    });

    it('fences a process whose scope was taken over: its commit fails and writes nothing', async () => {
      const stale = await open();
      stale.runtime.process(
        'orders',
        streamRecord(null, { product: 'a', amount: 5 }, 5_100, 'o:0'),
      );
      const fresh = await open();
      expect(fresh.backend.generation).toBeGreaterThan(stale.backend.generation);

      const error: unknown = await Promise.resolve(stale.runtime.commit()).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(StateFencedError);
      expect(isCausewayError(error) && error.code).toBe('LEASE_LOST');
      expect(await fixture.tableRows()).toEqual([]);
      expect(await fixture.rowCount(scope)).toEqual({ keyValues: 0, windows: 0, outbox: 0 });
      await expect(stale.backend.renew()).rejects.toBeInstanceOf(StateFencedError);

      fresh.runtime.process(
        'orders',
        streamRecord(null, { product: 'b', amount: 2 }, 5_100, 'o:0'),
      );
      await fresh.runtime.commit();
      expect(await fixture.tableRows()).toEqual([
        { product: 'b', window_start: 5_000, total: 2, orders: 1 },
      ]);
    });

    it('lets a second claimant in only when the scope is released or its lease expired', async () => {
      let now = 1_000_000;
      const clock = () => now;
      const holder = await open({ clock });
      const claim = () =>
        DurableStateBackend.open({
          repository: fixture.repository([]),
          scope,
          owner: 'second',
          takeOver: false,
          leaseMs: 10_000,
          clock,
        });
      expect(await claim()).toBeUndefined();
      now += 10_001;
      const second = await claim();
      expect(second?.generation).toBe(holder.backend.generation + 1);
      await second?.release();
      expect((await claim())?.owner).toBe('second');
      const owners = await fixture.repository([]).owners(scope.slice(0, 7));
      expect(owners.find((owner) => owner.scope === scope)).toEqual({
        scope,
        owner: 'second',
        generation: holder.backend.generation + 2,
        leaseUntil: now + 10_000,
      });
      expect(await fixture.repository([]).owners(`${scope}-other`)).toEqual([]);
    });

    it('keeps outputs for other sinks as outbox rows until acknowledged', async () => {
      const { backend, runtime } = await open();
      runtime.process('orders', streamRecord(null, { product: 'a', amount: 5 }, 5_100, 'o:0'));
      runtime.process('orders', streamRecord(null, { product: 'a', amount: 6 }, 5_200, 'o:1'));
      await runtime.commit();
      const pending: OutputRecord[] = await backend.undelivered();
      expect(pending.map((o) => [o.sink, o.value])).toEqual([
        ['counts', 1],
        ['counts', 2],
      ]);
      await backend.acknowledge([pending[0]?.id as string]);
      const reopened = await open();
      expect((await reopened.backend.undelivered()).map((o) => o.id)).toEqual([pending[1]?.id]);
    });
  });
}
