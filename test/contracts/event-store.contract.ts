/**
 * The event store contract. Every adapter runs this file unchanged:
 *   eventStoreContract(harness)
 * A failure here means the adapter breaks a guarantee users rely on.
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConcurrencyError,
  DuplicateEventIdError,
  EventRegistry,
  EventTooLargeError,
  isConcurrencyError,
  StreamNotFoundError,
  ValidationError,
  type EventStore,
  type EventStoreOptions,
  type NewEvent,
} from 'causeway';
import { collect, ManualClock } from 'causeway/testing';
import type { EventStoreHarness, StoreUnderTest } from './harness.js';
import { subscriptionContract } from './subscription.contract.js';
import { metadataContract } from './stream-metadata.contract.js';

export function ev(type: string, data: unknown = {}, extra: Partial<NewEvent> = {}): NewEvent {
  return { type, data, ...extra };
}

/** Opens stores through the harness and closes them after each test. */
export function useStores(harness: EventStoreHarness) {
  const open: EventStore[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  afterAll(() => harness.cleanup());
  return {
    async create(options?: EventStoreOptions): Promise<StoreUnderTest> {
      const sut = await harness.create(options);
      open.push(sut.store);
      const reopen = sut.reopen;
      return {
        ...sut,
        reopen: async (o?: EventStoreOptions) => {
          const again = await reopen(o);
          open.push(again);
          return again;
        },
      };
    },
  };
}

export function eventStoreContract(harness: EventStoreHarness): void {
  describe(`EventStore contract: ${harness.name}`, () => {
    const stores = useStores(harness);
    const fresh = async (options?: EventStoreOptions) => (await stores.create(options)).store;

    describe('append and expected versions', () => {
      it('appends to a new stream and returns the next version and global positions', async () => {
        const store = await fresh();
        const result = await store.appendToStream('order-1', [
          ev('Placed', { n: 1 }),
          ev('Paid', { n: 2 }),
        ]);
        expect(result.nextExpectedVersion).toBe(2);
        expect(result.positions).toHaveLength(2);
        expect(result.positions[1]!).toBeGreaterThan(result.positions[0]!);
        const events = await collect(store.readStream('order-1'));
        expect(events.map((e) => [e.type, e.streamVersion, e.globalPosition])).toEqual([
          ['Placed', 1, result.positions[0]],
          ['Paid', 2, result.positions[1]],
        ]);
      });

      it("'no_stream' succeeds once and then conflicts", async () => {
        const store = await fresh();
        await store.appendToStream('s', [ev('A')], { expectedVersion: 'no_stream' });
        const error = await store
          .appendToStream('s', [ev('B')], { expectedVersion: 'no_stream' })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({
          code: 'CONCURRENCY',
          streamId: 's',
          expected: 'no_stream',
          actual: 1,
        });
        expect(await collect(store.readStream('s'))).toHaveLength(1);
      });

      it("'stream_exists' fails on a missing stream and succeeds on an existing one", async () => {
        const store = await fresh();
        await expect(
          store.appendToStream('s', [ev('A')], { expectedVersion: 'stream_exists' }),
        ).rejects.toMatchObject({
          code: 'CONCURRENCY',
          actual: 0,
        });
        await store.appendToStream('s', [ev('A')]);
        const result = await store.appendToStream('s', [ev('B')], {
          expectedVersion: 'stream_exists',
        });
        expect(result.nextExpectedVersion).toBe(2);
      });

      it('a numeric expected version must match exactly; 0 means no stream', async () => {
        const store = await fresh();
        await store.appendToStream('s', [ev('A')], { expectedVersion: 0 });
        await expect(
          store.appendToStream('s', [ev('B')], { expectedVersion: 0 }),
        ).rejects.toBeInstanceOf(ConcurrencyError);
        await expect(
          store.appendToStream('s', [ev('B')], { expectedVersion: 2 }),
        ).rejects.toMatchObject({ expected: 2, actual: 1 });
        const ok = await store.appendToStream('s', [ev('B'), ev('C')], { expectedVersion: 1 });
        expect(ok.nextExpectedVersion).toBe(3);
      });

      it("'any' appends whatever the state", async () => {
        const store = await fresh();
        await store.appendToStream('s', [ev('A')], { expectedVersion: 'any' });
        const result = await store.appendToStream('s', [ev('B')], { expectedVersion: 'any' });
        expect(result.nextExpectedVersion).toBe(2);
      });

      it('an empty append only checks the expected version', async () => {
        const store = await fresh();
        expect(await store.appendToStream('s', [], { expectedVersion: 'no_stream' })).toEqual({
          nextExpectedVersion: 0,
          positions: [],
        });
        await expect(
          store.appendToStream('s', [], { expectedVersion: 'stream_exists' }),
        ).rejects.toBeInstanceOf(ConcurrencyError);
        expect(await store.getStream('s')).toBeUndefined();
      });

      it('rejects a malformed expected version with a ValidationError', async () => {
        const store = await fresh();
        await expect(
          store.appendToStream('s', [ev('A')], { expectedVersion: -1 }),
        ).rejects.toMatchObject({
          code: 'VALIDATION',
          issues: [{ path: ['expectedVersion'] }],
        });
        await expect(
          store.appendToStream('s', [ev('A')], { expectedVersion: 'latest' as unknown as 'any' }),
        ).rejects.toBeInstanceOf(ValidationError);
      });

      it('two concurrent writers with the same expected version: exactly one wins', async () => {
        // Two handles over one database: two connections (or two processes' worth of state).
        const sut = await stores.create();
        const store = sut.store;
        const other = await sut.reopen();
        await store.appendToStream('acct', [ev('Opened')]);
        for (let round = 0; round < 10; round++) {
          const expected = round + 1;
          const results = await Promise.allSettled([
            store.appendToStream('acct', [ev('Deposited', { by: 'a', round })], {
              expectedVersion: expected,
            }),
            other.appendToStream('acct', [ev('Deposited', { by: 'b', round })], {
              expectedVersion: expected,
            }),
          ]);
          const won = results.filter((r) => r.status === 'fulfilled');
          const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
          expect(won).toHaveLength(1);
          expect(lost).toHaveLength(1);
          expect(isConcurrencyError(lost[0]!.reason)).toBe(true);
        }
        const events = await collect(store.readStream('acct'));
        expect(events.map((e) => e.streamVersion)).toEqual(
          Array.from({ length: 11 }, (_, i) => i + 1),
        );
      });

      it('an append is atomic: one invalid event writes nothing', async () => {
        const registry = new EventRegistry().register('Deposited', {
          schema: z.object({ amount: z.number().positive() }),
        });
        const store = await fresh({ registry });
        await store.appendToStream('acct', [ev('Deposited', { amount: 5 })]);
        const error = await store
          .appendToStream('acct', [ev('Deposited', { amount: 1 }), ev('Deposited', { amount: -3 })])
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).issues).toEqual([
          expect.objectContaining({ path: ['events', 1, 'data', 'amount'] }),
        ]);
        expect((await collect(store.readStream('acct'))).map((e) => e.data)).toEqual([
          { amount: 5 },
        ]);
        expect(await store.headPosition()).toBe(
          (await collect(store.readAll())).at(-1)!.globalPosition,
        );
      });

      it('a duplicate event id fails with DuplicateEventIdError and writes nothing', async () => {
        const store = await fresh();
        await store.appendToStream('a', [ev('X', {}, { id: 'evt-1' })]);
        await expect(
          store.appendToStream('b', [ev('Y'), ev('X', {}, { id: 'evt-1' })]),
        ).rejects.toBeInstanceOf(DuplicateEventIdError);
        await expect(
          store.appendToStream('b', [ev('Y', {}, { id: 'same' }), ev('Z', {}, { id: 'same' })]),
        ).rejects.toMatchObject({
          code: 'VALIDATION',
          issues: [{ path: ['events', 1, 'id'] }],
        });
        expect(await store.getStream('b')).toBeUndefined();
        expect(await collect(store.readAll())).toHaveLength(1);
      });

      it('rejects bad stream ids, event types and unserializable data with typed errors', async () => {
        const store = await fresh();
        await expect(store.appendToStream('', [ev('A')])).rejects.toMatchObject({
          code: 'VALIDATION',
          issues: [{ path: ['streamId'] }],
        });
        await expect(store.appendToStream('x'.repeat(256), [ev('A')])).rejects.toMatchObject({
          code: 'VALIDATION',
        });
        await expect(store.appendToStream('x'.repeat(255), [ev('A')])).resolves.toMatchObject({
          nextExpectedVersion: 1,
        });
        await expect(store.appendToStream('s', [ev('')])).rejects.toMatchObject({
          issues: [{ path: ['events', 0, 'type'] }],
        });
        await expect(store.appendToStream('s', [ev('Bad\u0000Type')])).rejects.toMatchObject({
          issues: [{ path: ['events', 0, 'type'], message: 'must not contain control characters' }],
        });
        await expect(
          store.appendToStream('s', [ev('A', {}, { subject: 'line\nbreak' })]),
        ).rejects.toMatchObject({
          issues: [{ path: ['events', 0, 'subject'] }],
        });
        await expect(store.appendToStream('s', [ev('A', { n: 10n })])).rejects.toMatchObject({
          code: 'SERIALIZATION',
        });
        const cyclic: Record<string, unknown> = {};
        cyclic['self'] = cyclic;
        await expect(store.appendToStream('s', [ev('A', cyclic)])).rejects.toMatchObject({
          code: 'SERIALIZATION',
        });
        expect(await store.getStream('s')).toBeUndefined();
      });

      it('enforces the maximum event size (default 1 MiB) and writes nothing', async () => {
        const store = await fresh();
        const big = 'x'.repeat(1024 * 1024);
        const error = await store
          .appendToStream('s', [ev('Small'), ev('Big', { big })])
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(EventTooLargeError);
        expect(error).toMatchObject({ index: 1, limit: 1024 * 1024 });
        expect(await store.getStream('s')).toBeUndefined();
        const small = await fresh({ limits: { maxEventSize: 100 } });
        await expect(
          small.appendToStream('s', [ev('A', { text: 'y'.repeat(200) })]),
        ).rejects.toBeInstanceOf(EventTooLargeError);
        await expect(small.appendToStream('s', [ev('A', { text: 'ok' })])).resolves.toBeDefined();
      });
    });

    describe('the envelope', () => {
      it('fills CloudEvents defaults and round-trips every attribute and metadata', async () => {
        const clock = new ManualClock(new Date('2026-01-02T03:04:05.678Z'));
        const store = await fresh({ clock, source: '/billing' });
        await store.appendToStream('invoice-7', [
          ev('InvoiceIssued', { total: 12.5, lines: [{ sku: 'a', qty: 2 }], note: 'ünïcødé ✓' }),
          ev(
            'InvoicePaid',
            { total: 12.5 },
            {
              id: 'custom-id-1',
              source: '/payments',
              subject: 'invoice/7',
              time: new Date('2025-12-31T23:59:59.000Z'),
              datacontenttype: 'application/cloudevents+json',
              correlationid: 'corr-1',
              causationid: 'cmd-9',
              traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
              partitionkey: 'customer-3',
              metadata: { userId: 'u-1', tags: ['vip'] },
            },
          ),
        ]);
        const [issued, paid] = await collect(store.readStream('invoice-7'));
        expect(issued).toMatchObject({
          specversion: '1.0',
          source: '/billing',
          subject: 'invoice-7',
          type: 'InvoiceIssued',
          datacontenttype: 'application/json',
          data: { total: 12.5, lines: [{ sku: 'a', qty: 2 }], note: 'ünïcødé ✓' },
          metadata: {},
          streamId: 'invoice-7',
          streamVersion: 1,
          schemaVersion: 1,
        });
        expect(issued!.id).toMatch(
          /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        );
        expect(issued!.time.toISOString()).toBe('2026-01-02T03:04:05.678Z');
        expect(issued).not.toHaveProperty('correlationid');
        expect(paid).toMatchObject({
          id: 'custom-id-1',
          source: '/payments',
          subject: 'invoice/7',
          datacontenttype: 'application/cloudevents+json',
          correlationid: 'corr-1',
          causationid: 'cmd-9',
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          partitionkey: 'customer-3',
          metadata: { userId: 'u-1', tags: ['vip'] },
        });
        expect(paid!.time.toISOString()).toBe('2025-12-31T23:59:59.000Z');
      });

      it('rejects non-JSON content types instead of storing them wrongly', async () => {
        const store = await fresh();
        await expect(
          store.appendToStream('s', [
            ev('A', 'x', { datacontenttype: 'application/octet-stream' }),
          ]),
        ).rejects.toMatchObject({
          issues: [{ path: ['events', 0, 'datacontenttype'] }],
        });
      });
    });

    describe('reading streams', () => {
      it('reads forwards and backwards, from a version, with a limit, across many pages', async () => {
        const store = await fresh();
        const events = Array.from({ length: 57 }, (_, i) => ev('Tick', { i }));
        await store.appendToStream('ticks', events.slice(0, 30));
        await store.appendToStream('other', [ev('Noise')]);
        await store.appendToStream('ticks', events.slice(30));
        const versions = async (o: Parameters<EventStore['readStream']>[1]) =>
          (await collect(store.readStream('ticks', { pageSize: 7, ...o }))).map(
            (e) => e.streamVersion,
          );
        expect(await versions({})).toEqual(range(1, 57));
        expect(await versions({ from: 50 })).toEqual(range(50, 57));
        expect(await versions({ from: 10, limit: 5 })).toEqual(range(10, 14));
        expect(await versions({ direction: 'backwards' })).toEqual(range(1, 57).reverse());
        expect(await versions({ direction: 'backwards', from: 20, limit: 15 })).toEqual(
          range(6, 20).reverse(),
        );
        expect(await versions({ direction: 'backwards', from: 3 })).toEqual([3, 2, 1]);
        expect(await versions({ from: 58 })).toEqual([]);
        expect(
          (await collect(store.readStream('ticks'))).map((e) => (e.data as { i: number }).i),
        ).toEqual(range(0, 56));
      });

      it('throws StreamNotFoundError for a stream that was never written', async () => {
        const store = await fresh();
        await expect(collect(store.readStream('nope'))).rejects.toBeInstanceOf(StreamNotFoundError);
        expect(await store.getStream('nope')).toBeUndefined();
      });

      it('getStream and listStreams describe streams', async () => {
        const store = await fresh();
        await store.appendToStream('order-2', [ev('A'), ev('B')]);
        await store.appendToStream('order-1', [ev('A')]);
        await store.appendToStream('user-1', [ev('A')]);
        expect(await store.getStream('order-2')).toMatchObject({
          streamId: 'order-2',
          version: 2,
          state: 'active',
        });
        const listed = await collect(store.listStreams());
        expect(listed.map((s) => s.streamId)).toEqual(['order-1', 'order-2', 'user-1']);
        expect(
          (await collect(store.listStreams({ prefix: 'order-' }))).map((s) => s.streamId),
        ).toEqual(['order-1', 'order-2']);
        expect(
          (await collect(store.listStreams({ after: 'order-1', limit: 1 }))).map((s) => s.streamId),
        ).toEqual(['order-2']);
      });
    });

    describe('reading the global log', () => {
      it('reads all events in position order, from a position, filtered by type and stream prefix', async () => {
        const store = await fresh();
        await store.appendToStream('order-1', [ev('OrderPlaced'), ev('OrderPaid')]);
        await store.appendToStream('user-1', [ev('UserRegistered')]);
        await store.appendToStream('order-2', [ev('OrderPlaced')]);
        const all = await collect(store.readAll({ pageSize: 2 }));
        expect(all.map((e) => `${e.streamId}:${e.type}`)).toEqual([
          'order-1:OrderPlaced',
          'order-1:OrderPaid',
          'user-1:UserRegistered',
          'order-2:OrderPlaced',
        ]);
        strictlyIncreasing(all.map((e) => e.globalPosition));
        const third = all[2]!.globalPosition;
        expect((await collect(store.readAll({ fromPosition: third }))).map((e) => e.type)).toEqual([
          'UserRegistered',
          'OrderPlaced',
        ]);
        expect(
          (await collect(store.readAll({ filter: { types: ['OrderPlaced'] }, pageSize: 1 }))).map(
            (e) => e.streamId,
          ),
        ).toEqual(['order-1', 'order-2']);
        expect(
          (await collect(store.readAll({ filter: { streamPrefix: 'user-' } }))).map((e) => e.type),
        ).toEqual(['UserRegistered']);
        expect(await collect(store.readAll({ limit: 3 }))).toHaveLength(3);
        expect(await store.headPosition()).toBe(all.at(-1)!.globalPosition);
      });

      it('readAllPage reports how far it scanned even when the filter matched nothing', async () => {
        const store = await fresh();
        await store.appendToStream('a', [ev('A'), ev('A'), ev('A')]);
        const page = await store.readAllPage(0, 10, { types: ['B'] });
        expect(page.events).toEqual([]);
        expect(page.isEnd).toBe(true);
        expect(page.scannedUpTo).toBe(await store.headPosition());
      });

      it('an empty store has head position 0 and reads nothing', async () => {
        const store = await fresh();
        expect(await store.headPosition()).toBe(0);
        expect(await collect(store.readAll())).toEqual([]);
      });
    });

    describe('properties over random interleavings', () => {
      it('versions are contiguous from 1, positions strictly increase, nothing is lost or duplicated', async () => {
        const streamIds = ['s-a', 's-b', 's-c', 's-d'];
        const batch = fc.record({
          stream: fc.constantFrom(...streamIds),
          size: fc.integer({ min: 1, max: 4 }),
          expectCurrent: fc.boolean(),
        });
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.array(batch, { minLength: 1, maxLength: 6 }), {
              minLength: 1,
              maxLength: 5,
            }),
            async (rounds) => {
              const store = await fresh();
              const accepted: string[] = [];
              let tag = 0;
              for (const round of rounds) {
                // Each round runs its appends concurrently: some race on the same stream.
                const heads = new Map<string, number>();
                for (const id of streamIds)
                  heads.set(id, (await store.getStream(id))?.version ?? 0);
                const attempts = round.map((b) => {
                  const tags = Array.from({ length: b.size }, () => `t${tag++}`);
                  const expectedVersion = b.expectCurrent ? heads.get(b.stream)! : ('any' as const);
                  return store
                    .appendToStream(
                      b.stream,
                      tags.map((t) => ev('E', { t })),
                      { expectedVersion },
                    )
                    .then(() => accepted.push(...tags))
                    .catch((e: unknown) => {
                      if (!isConcurrencyError(e)) throw e;
                    });
                });
                await Promise.all(attempts);
              }
              const all = await collect(store.readAll());
              strictlyIncreasing(all.map((e) => e.globalPosition));
              expect(all.map((e) => (e.data as { t: string }).t).sort()).toEqual(
                [...accepted].sort(),
              );
              for (const id of streamIds) {
                const info = await store.getStream(id);
                if (!info) continue;
                const stream = await collect(store.readStream(id));
                expect(stream.map((e) => e.streamVersion)).toEqual(range(1, info.version));
                strictlyIncreasing(stream.map((e) => e.globalPosition));
              }
              await store.close();
            },
          ),
          { numRuns: 15 },
        );
      });
    });

    describe('snapshots', () => {
      it('keeps the newest snapshot per stream and ignores other state versions', async () => {
        const { snapshots } = await stores.create();
        const createdAt = new Date('2026-03-01T00:00:00Z');
        expect(await snapshots.load('acct-1')).toBeUndefined();
        await snapshots.save({
          streamId: 'acct-1',
          version: 10,
          state: { balance: 100 },
          stateVersion: 1,
          createdAt,
        });
        await snapshots.save({
          streamId: 'acct-1',
          version: 5,
          state: { balance: 50 },
          stateVersion: 1,
          createdAt,
        });
        expect(await snapshots.load('acct-1')).toEqual({
          streamId: 'acct-1',
          version: 10,
          state: { balance: 100 },
          stateVersion: 1,
          createdAt,
        });
        await snapshots.save({
          streamId: 'acct-1',
          version: 20,
          state: { balance: 200, owner: 'x' },
          stateVersion: 2,
          createdAt,
        });
        expect(await snapshots.load('acct-1', { stateVersion: 1 })).toBeUndefined();
        expect(
          await snapshots.load<{ balance: number }>('acct-1', { stateVersion: 2 }),
        ).toMatchObject({ version: 20, state: { balance: 200 } });
        await snapshots.delete('acct-1');
        expect(await snapshots.load('acct-1')).toBeUndefined();
      });
    });

    describe('upcasting', () => {
      it('runs upcaster chains on read so old events arrive in the current shape', async () => {
        const sut = await stores.create({
          registry: new EventRegistry().register('PriceSet', { version: 1 }),
        });
        await sut.store.appendToStream('product-1', [ev('PriceSet', { price: '12.50' })]);
        await sut.store.close();

        const v2 = (data: unknown) => ({
          amount: Number((data as { price: string }).price),
          currency: 'EUR',
        });
        const v3 = (data: unknown) => {
          const { amount, currency } = data as { amount: number; currency: string };
          return { price: { cents: Math.round(amount * 100), currency } };
        };
        const registry = new EventRegistry().register('PriceSet', {
          version: 3,
          upcasters: { 1: v2, 2: v3 },
          schema: z.object({ price: z.object({ cents: z.number().int(), currency: z.string() }) }),
        });
        const store = await sut.reopen({ registry });
        await store.appendToStream('product-1', [
          ev('PriceSet', { price: { cents: 999, currency: 'USD' } }),
        ]);
        const events = await collect(store.readStream('product-1'));
        expect(events.map((e) => [e.schemaVersion, e.data])).toEqual([
          [3, { price: { cents: 1250, currency: 'EUR' } }],
          [3, { price: { cents: 999, currency: 'USD' } }],
        ]);
        expect((await collect(store.readAll())).map((e) => e.schemaVersion)).toEqual([3, 3]);

        // The stored version stays what it was written at: a reader without upcasters sees raw v1.
        const raw = await sut.reopen();
        expect((await collect(raw.readStream('product-1')))[0]).toMatchObject({
          schemaVersion: 1,
          data: { price: '12.50' },
        });
      });

      it('fails loudly when an upcaster in the chain is missing', async () => {
        const sut = await stores.create();
        await sut.store.appendToStream('p', [ev('PriceSet', { price: '1' })]);
        const store = await sut.reopen({
          registry: new EventRegistry().register('PriceSet', {
            version: 3,
            upcasters: { 1: (d) => d },
          }),
        });
        await expect(collect(store.readStream('p'))).rejects.toMatchObject({
          code: 'UPCAST_FAILED',
        });
      });
    });

    metadataContract(stores);
    subscriptionContract(stores);
  });
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

export function strictlyIncreasing(values: readonly number[]): void {
  for (let i = 1; i < values.length; i++) {
    if (!(values[i]! > values[i - 1]!))
      throw new Error(`not strictly increasing at ${i}: ${values[i - 1]} then ${values[i]}`);
  }
}
