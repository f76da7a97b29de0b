/**
 * The saga-store contract: rows keyed by saga id, conditional writes on a version column
 * fenced by a lease, atomic claiming of abandoned instances, operator abort requests.
 * Every `SagaStore` runs it unchanged.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SagaLeaseLostError,
  SerializationError,
  ValidationError,
  type SagaInstance,
  type SagaStore,
} from 'causeway';
import type { SagaStoreBackend, SagaStoreHarness } from './saga-store-harness.js';

type NewInstance = Omit<SagaInstance, 'version' | 'leaseOwner' | 'leaseExpiresAt'>;

const TTL = 10_000;
let sequence = 0;

/** A new instance; ids sort in creation order, like the UUIDv7 ids the runtime makes. */
function instance(overrides: Partial<NewInstance> = {}): NewInstance {
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, sequence));
  return {
    id: `saga-${String(sequence++).padStart(6, '0')}`,
    name: 'checkout',
    status: 'running',
    currentStep: 'reserve',
    attempt: 0,
    visits: { reserve: 1 },
    completedSteps: [],
    uncertainSteps: [],
    compensatedSteps: [],
    data: { orderId: 'o-1', lines: [{ sku: 'a', qty: 2 }], note: null },
    error: undefined,
    history: [],
    abortRequestedAt: undefined,
    createdAt: at,
    updatedAt: at,
    endedAt: undefined,
    ...overrides,
  };
}

export function sagaStoreContract(harness: SagaStoreHarness): void {
  describe(`SagaStore contract: ${harness.name}`, () => {
    let backend: SagaStoreBackend;
    let store: SagaStore;

    beforeEach(async () => {
      backend = await harness.create();
      store = backend.store;
    });
    afterEach(() => backend.close());
    afterAll(() => harness.cleanup());

    describe('create and get', () => {
      it('creates at version 1, leased to its creator, and reads back every field', async () => {
        const input = instance({
          status: 'compensating',
          currentStep: undefined,
          attempt: 2,
          visits: { reserve: 1, charge: 2 },
          completedSteps: ['reserve', 'charge'],
          uncertainSteps: [{ step: 'ship', after: 2, attempt: 1, outcome: 'timed_out' }],
          compensatedSteps: ['ship', 'charge'],
          error: {
            step: 'ship',
            kind: 'execute',
            name: 'TimeoutError',
            code: 'TIMEOUT',
            message: 'slow',
          },
          history: [
            {
              step: 'ship',
              kind: 'execute',
              attempt: 1,
              idempotencyKey: 'k:ship:execute',
              startedAt: new Date(Date.UTC(2026, 0, 1, 1)),
              endedAt: new Date(Date.UTC(2026, 0, 1, 2)),
              outcome: 'timed_out',
              error: { name: 'TimeoutError', code: 'TIMEOUT', message: 'slow' },
            },
            {
              step: 'charge',
              kind: 'compensate',
              attempt: 1,
              idempotencyKey: 'k:charge:compensate',
              startedAt: new Date(Date.UTC(2026, 0, 1, 3)),
              outcome: 'started',
            },
          ],
          endedAt: new Date(Date.UTC(2026, 0, 2)),
        });
        const created = await store.create(input, 'runtime-1', TTL);
        expect(created).toMatchObject({ ...input, version: 1, leaseOwner: 'runtime-1' });
        expect(created?.leaseExpiresAt).toBeInstanceOf(Date);

        const other = await backend.reopen();
        const read = await other.get(input.id);
        expect(read).toEqual(created);
        expect(read?.history[0]?.startedAt).toBeInstanceOf(Date);
        expect(read?.createdAt).toBeInstanceOf(Date);
      });

      it('returns undefined for a second create with the same id and keeps the first', async () => {
        const first = instance({ data: { n: 1 } });
        await store.create(first, 'a', TTL);
        expect(await store.create({ ...first, data: { n: 2 } }, 'b', TTL)).toBeUndefined();
        expect(await store.get(first.id)).toMatchObject({
          data: { n: 1 },
          leaseOwner: 'a',
          version: 1,
        });
      });

      it('concurrent creates of one id: exactly one wins', async () => {
        const input = instance();
        const results = await Promise.all(
          ['a', 'b', 'c', 'd'].map((owner) => store.create(input, owner, TTL)),
        );
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      });

      it('keeps data as JSON: dates come back as ISO strings; unserializable data writes nothing', async () => {
        const input = instance({ data: { at: new Date(Date.UTC(2026, 1, 3)) } });
        await store.create(input, 'a', TTL);
        expect((await store.get(input.id))?.data).toEqual({ at: '2026-02-03T00:00:00.000Z' });

        const bad = instance({ data: { total: 10n } });
        await expect(store.create(bad, 'a', TTL)).rejects.toBeInstanceOf(SerializationError);
        expect(await store.get(bad.id)).toBeUndefined();
      });

      it('get of an unknown id is undefined', async () => {
        expect(await store.get('no-such-saga')).toBeUndefined();
      });
    });

    describe('save (conditional on version and lease)', () => {
      it('writes, increments the version, extends the lease and returns the stored row', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        await backend.advance(TTL / 2);
        const saved = await store.save(
          { ...created, currentStep: 'charge', completedSteps: ['reserve'], data: { paid: true } },
          'a',
          TTL,
        );
        expect(saved).toMatchObject({ version: 2, currentStep: 'charge', data: { paid: true } });
        expect(saved.leaseExpiresAt!.getTime()).toBeGreaterThan(created.leaseExpiresAt!.getTime());
        expect(await store.get(created.id)).toEqual(saved);
      });

      it('refuses a stale version with SagaLeaseLostError and writes nothing', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        await store.save({ ...created, attempt: 1 }, 'a', TTL);
        await expect(store.save({ ...created, attempt: 9 }, 'a', TTL)).rejects.toBeInstanceOf(
          SagaLeaseLostError,
        );
        expect(await store.get(created.id)).toMatchObject({ version: 2, attempt: 1 });
      });

      it('concurrent saves of one version: exactly one wins', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        const results = await Promise.allSettled(
          [1, 2, 3, 4].map((attempt) => store.save({ ...created, attempt }, 'a', TTL)),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect((await store.get(created.id))?.version).toBe(2);
      });

      it('refuses a writer that does not hold the lease, or whose lease expired', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        await expect(store.save(created, 'b', TTL)).rejects.toBeInstanceOf(SagaLeaseLostError);
        await backend.advance(TTL + 1);
        // Expired, even though nobody took it over: the writer must re-acquire first.
        await expect(store.save(created, 'a', TTL)).rejects.toBeInstanceOf(SagaLeaseLostError);
        expect((await store.get(created.id))?.version).toBe(1);
      });

      it('refuses unserializable data and keeps the row', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        await expect(
          store.save({ ...created, data: { f: () => 1 } }, 'a', TTL),
        ).rejects.toBeInstanceOf(SerializationError);
        expect(await store.get(created.id)).toEqual(created);
      });

      it('keeps the stored abort request whatever the writer sends', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        const requested = await store.requestAbort(created.id);
        const saved = await store.save({ ...created, abortRequestedAt: undefined }, 'a', TTL);
        expect(saved.abortRequestedAt).toEqual(requested?.abortRequestedAt);
        expect(saved.abortRequestedAt).toBeInstanceOf(Date);
      });
    });

    describe('leases', () => {
      it('acquire: free, own or expired leases are taken; a live lease of another owner is not', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        expect(await store.acquireLease(created.id, 'b', TTL)).toBeUndefined();
        expect(await store.acquireLease(created.id, 'a', TTL)).toMatchObject({ leaseOwner: 'a' });
        await backend.advance(TTL + 1);
        const taken = await store.acquireLease(created.id, 'b', TTL);
        expect(taken).toMatchObject({ leaseOwner: 'b', version: 1 }); // a lease is not a state change
        await expect(store.save(created, 'a', TTL)).rejects.toBeInstanceOf(SagaLeaseLostError);
        expect(await store.acquireLease('no-such-saga', 'b', TTL)).toBeUndefined();
      });

      it('concurrent acquires of an expired lease: exactly one wins', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        await backend.advance(TTL + 1);
        const results = await Promise.all(
          ['b', 'c', 'd', 'e'].map((owner) => store.acquireLease(created.id, owner, TTL)),
        );
        const winners = results.filter((r) => r !== undefined);
        expect(winners).toHaveLength(1);
        expect((await store.get(created.id))?.leaseOwner).toBe(winners[0]?.leaseOwner);
      });

      it('renew extends a live lease and reports abort requests; a lost lease is undefined', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        await backend.advance(TTL - 1);
        expect(await store.renewLease(created.id, 'a', TTL)).toEqual({ abortRequested: false });
        await backend.advance(TTL - 1); // alive only because it was renewed
        await store.requestAbort(created.id);
        expect(await store.renewLease(created.id, 'a', TTL)).toEqual({ abortRequested: true });
        expect(await store.renewLease(created.id, 'b', TTL)).toBeUndefined();
        await backend.advance(TTL + 1);
        expect(await store.renewLease(created.id, 'a', TTL)).toBeUndefined();
        expect(await store.renewLease('no-such-saga', 'a', TTL)).toBeUndefined();
      });

      it('release frees the lease for others; only the holder can release', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        await store.releaseLease(created.id, 'b');
        expect(await store.acquireLease(created.id, 'b', TTL)).toBeUndefined();
        await store.releaseLease(created.id, 'a');
        expect(await store.get(created.id)).toMatchObject({
          leaseOwner: undefined,
          leaseExpiresAt: undefined,
        });
        expect(await store.acquireLease(created.id, 'b', TTL)).toMatchObject({ leaseOwner: 'b' });
      });
    });

    describe('claim', () => {
      it('leases active instances of the named sagas whose lease is free or expired, oldest first', async () => {
        const make = async (overrides: Partial<NewInstance>, owner = 'dead') =>
          (await store.create(instance(overrides), owner, TTL))!.id;
        const running = await make({});
        const compensating = await make({ status: 'compensating' });
        await make({ status: 'completed' });
        await make({ status: 'failed' });
        await make({ status: 'compensation_failed' });
        await make({ name: 'other-saga' });
        const released = await make({});
        await store.releaseLease(released, 'dead');
        await backend.advance(TTL / 2);
        const live = await make({}, 'alive'); // its lease is still running when we claim

        expect(await store.claim(['checkout'], 'me', TTL, 10)).toEqual([
          expect.objectContaining({ id: released, leaseOwner: 'me' }),
        ]);
        await backend.advance(TTL / 2 + 1);
        const claimed = await store.claim(['checkout'], 'me', TTL, 10);
        expect(claimed.map((i) => i.id)).toEqual([running, compensating]);
        expect(claimed.every((i) => i.leaseOwner === 'me')).toBe(true);
        expect((await store.get(running))?.leaseOwner).toBe('me');
        expect((await store.get(live))?.leaseOwner).toBe('alive');
        expect(await store.claim(['checkout'], 'other', TTL, 10)).toEqual([]);
      });

      it('honours the limit, and concurrent claimers never get the same instance', async () => {
        for (let i = 0; i < 12; i++) await store.create(instance(), 'dead', TTL);
        await backend.advance(TTL + 1);
        expect(await store.claim(['checkout'], 'first', TTL, 2)).toHaveLength(2);
        const rounds = await Promise.all(
          ['a', 'b', 'c', 'd', 'e'].map((owner) => store.claim(['checkout'], owner, TTL, 3)),
        );
        const ids = rounds.flat().map((i) => i.id);
        expect(ids).toHaveLength(10);
        expect(new Set(ids).size).toBe(10);
      });
    });

    describe('list', () => {
      it('filters by status and name, orders by id, pages with limit and after', async () => {
        const a = (await store.create(instance({ status: 'completed' }), 'x', TTL))!.id;
        const b = (await store.create(instance({ status: 'compensation_failed' }), 'x', TTL))!.id;
        const c = (await store.create(instance({ status: 'running', name: 'refund' }), 'x', TTL))!
          .id;
        const d = (await store.create(instance({ status: 'completed', name: 'refund' }), 'x', TTL))!
          .id;
        const ids = (instances: SagaInstance[]) => instances.map((i) => i.id);

        expect(ids(await store.list())).toEqual([a, b, c, d]);
        expect(ids(await store.list({ status: 'completed' }))).toEqual([a, d]);
        expect(ids(await store.list({ status: ['running', 'compensation_failed'] }))).toEqual([
          b,
          c,
        ]);
        expect(ids(await store.list({ name: 'refund' }))).toEqual([c, d]);
        expect(ids(await store.list({ name: 'refund', status: 'completed' }))).toEqual([d]);
        expect(ids(await store.list({ limit: 2 }))).toEqual([a, b]);
        expect(ids(await store.list({ limit: 2, after: b }))).toEqual([c, d]);
        expect(ids(await store.list({ status: [] }))).toEqual([]);
      });
    });

    describe('countByStatus', () => {
      it('counts instances per name and status, ordered bytewise, leaving out empty pairs', async () => {
        expect(await store.countByStatus()).toEqual([]);
        const make = (name: string, status: SagaInstance['status']) =>
          store.create(instance({ name, status }), 'x', TTL);
        await make('refund', 'running');
        await make('checkout', 'completed');
        await make('checkout', 'running');
        await make('checkout', 'completed');
        await make('Checkout', 'failed');
        await make('checkout', 'compensation_failed');
        expect(await store.countByStatus()).toEqual([
          { name: 'Checkout', status: 'failed', count: 1 },
          { name: 'checkout', status: 'compensation_failed', count: 1 },
          { name: 'checkout', status: 'completed', count: 2 },
          { name: 'checkout', status: 'running', count: 1 },
          { name: 'refund', status: 'running', count: 1 },
        ]);
      });
    });

    describe('purge', () => {
      it('deletes finished instances that ended before the cutoff; active and recent ones stay', async () => {
        const day = 86_400_000;
        const t0 = Date.UTC(2026, 0, 1);
        const ended = (days: number) => new Date(t0 + days * day);
        const make = (id: string, status: SagaInstance['status'], at: Date, name = 'checkout') =>
          store.create(
            instance({
              id,
              name,
              status,
              createdAt: at,
              updatedAt: at,
              endedAt: status === 'completed' || status === 'failed' ? at : undefined,
            }),
            'x',
            TTL,
          );
        await make('old-done', 'completed', ended(0));
        await make('old-failed', 'failed', ended(1));
        await make('old-refund', 'completed', ended(1), 'refund');
        await make('old-stuck', 'compensation_failed', ended(1));
        await make('old-running', 'running', ended(0));
        await make('new-done', 'completed', ended(9));
        const ids = async () => (await store.list()).map((i) => i.id).sort();

        expect(await store.purge({ olderThan: ended(5), name: 'checkout' })).toBe(2);
        expect(await ids()).toEqual(['new-done', 'old-refund', 'old-running', 'old-stuck']);
        expect(await store.purge({ olderThan: ended(5), statuses: ['compensation_failed'] })).toBe(
          1,
        );
        expect(await store.purge({ olderThan: ended(5) })).toBe(1);
        expect(await ids()).toEqual(['new-done', 'old-running']);
        expect(await store.purge({ olderThan: ended(5) })).toBe(0);
        await expect(
          store.purge({ olderThan: ended(5), statuses: ['running'] }),
        ).rejects.toBeInstanceOf(ValidationError);
        expect(await ids()).toEqual(['new-done', 'old-running']);
      });
    });

    describe('requestAbort', () => {
      it('records the first request time without touching version or lease', async () => {
        const created = (await store.create(instance(), 'a', TTL))!;
        const first = await store.requestAbort(created.id);
        await backend.advance(1_000);
        const second = await store.requestAbort(created.id);
        expect(first?.abortRequestedAt).toBeInstanceOf(Date);
        expect(second?.abortRequestedAt).toEqual(first?.abortRequestedAt);
        expect(second).toMatchObject({ version: 1, leaseOwner: 'a' });
        expect(await store.requestAbort('no-such-saga')).toBeUndefined();
      });
    });
  });
}
