import { afterAll, describe, expect, it } from 'vitest';
import { IdempotencyService, TimeoutError } from 'causeway';
import type { IdempotencyHarness, IdempotencyUnderTest } from './messaging-harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Time-bound cases (leases, ttls) run against server clocks (PostgreSQL, Redis), so they wait
// for real time. The term is long enough that a loaded CI machine cannot let it lapse between
// two consecutive calls; the wait is longer than the term by a clear margin.
const LEASE_MS = 800;
const PAST_LEASE_MS = 1_100;

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

function tokenOf(claim: { status: string; token?: string }): string {
  expect(claim.status).toBe('claimed');
  return claim.token!;
}

/**
 * The guarantees every `IdempotencyStore` gives, run against each backend unchanged: fenced
 * claims, stored results shared by every caller, failures that store nothing, expiry.
 * `store` and `other` are two handles on the same data, as two processes would have.
 */
export function idempotencyContract(harness: IdempotencyHarness): void {
  describe(`IdempotencyStore contract: ${harness.name}`, () => {
    afterAll(() => harness.cleanup());

    async function withStores(test: (stores: IdempotencyUnderTest) => Promise<void>) {
      const stores = await harness.create();
      try {
        await test(stores);
      } finally {
        await stores.close();
      }
    }

    it('runs once; concurrent callers on two stores share the first result; later callers get it stored', () =>
      withStores(async ({ store, other }) => {
        const a = new IdempotencyService(store);
        const b = new IdempotencyService(other);
        let runs = 0;
        const g = gate();
        const op = async () => {
          runs++;
          await g.opened;
          return { receipt: `r-${runs}` };
        };
        const first = a.process('pay-1', op);
        // The second caller must meet the first one's claim, not run beside it.
        await expect.poll(() => runs).toBe(1);
        const second = b.process('pay-1', op);
        g.open();
        expect(await Promise.all([first, second])).toEqual([
          { receipt: 'r-1' },
          { receipt: 'r-1' },
        ]);
        expect(await b.process('pay-1', op)).toEqual({ receipt: 'r-1' });
        expect(runs).toBe(1);
      }));

    it('a failure stores nothing, and a caller waiting on it is woken to run the operation itself', () =>
      withStores(async ({ store, other }) => {
        // A long lease and wait: only the release can let the waiter through in time.
        const a = new IdempotencyService(store, { leaseMs: 60_000, waitTimeoutMs: 5_000 });
        const b = new IdempotencyService(other, { leaseMs: 60_000, waitTimeoutMs: 5_000 });
        const g = gate();
        let started = false;
        const failing = a.process('k', async () => {
          started = true;
          await g.opened;
          throw new Error('card declined');
        });
        await expect.poll(() => started).toBe(true);
        const waiting = b.process('k', async () => 'second try');
        g.open();
        await expect(failing).rejects.toThrow('card declined');
        const before = Date.now();
        expect(await waiting).toBe('second try');
        expect(Date.now() - before).toBeLessThan(4_000);
      }));

    it('a waiter gives up with a TimeoutError when the first caller takes too long', () =>
      withStores(async ({ store, other }) => {
        const g = gate();
        let started = false;
        const slow = new IdempotencyService(store).process('k', async () => {
          started = true;
          await g.opened;
          return 'late';
        });
        await expect.poll(() => started).toBe(true);
        await expect(
          new IdempotencyService(other, { waitTimeoutMs: 100 }).process('k', async () => 'never'),
        ).rejects.toBeInstanceOf(TimeoutError);
        g.open();
        expect(await slow).toBe('late');
      }));

    it('fences: a claimant whose lease ran out and was taken over cannot record its result', () =>
      withStores(async ({ store, other }) => {
        // Leases long enough that a loaded machine cannot end them between two calls, then a
        // wait past them: the lease is the only thing that ends.
        const stale = tokenOf(await store.claim('k', LEASE_MS));
        const busy = await other.claim('k', LEASE_MS);
        expect(busy.status).toBe('in_progress');
        if (busy.status === 'in_progress')
          expect(busy.leaseExpiresAt.getTime()).toBeGreaterThan(Date.now() - 1_000);
        await sleep(PAST_LEASE_MS);
        const fresh = tokenOf(await other.claim('k', 60_000));
        expect(await store.renew('k', stale, 60_000)).toBe(false);
        expect(await store.complete('k', stale, '"stale"', undefined)).toBe(false);
        expect(await other.renew('k', fresh, 60_000)).toBe(true);
        expect(await other.complete('k', fresh, '"fresh"', undefined)).toBe(true);
        expect(await store.claim('k', 1_000)).toEqual({ status: 'completed', result: '"fresh"' });
        // A release by a token that lost the key changes nothing.
        await store.release('k', stale);
        expect(await other.claim('k', 1_000)).toEqual({ status: 'completed', result: '"fresh"' });
      }));

    it('a renewed lease outlives its first term', () =>
      withStores(async ({ store, other }) => {
        const token = tokenOf(await store.claim('k', LEASE_MS));
        expect(await store.renew('k', token, 60_000)).toBe(true);
        await sleep(PAST_LEASE_MS);
        expect((await other.claim('k', 1_000)).status).toBe('in_progress');
      }));

    it('forgets results after their ttl', () =>
      withStores(async ({ store, other }) => {
        const a = new IdempotencyService(store);
        expect(await a.process('k', async () => 1, { ttlMs: LEASE_MS })).toBe(1);
        expect(await new IdempotencyService(other).process('k', async () => 2)).toBe(1);
        await sleep(PAST_LEASE_MS);
        expect(await a.process('k', async () => 3, { ttlMs: LEASE_MS })).toBe(3);
      }));

    it('stores results as JSON: undefined becomes null, nested values survive', () =>
      withStores(async ({ store, other }) => {
        const a = new IdempotencyService(store);
        const b = new IdempotencyService(other);
        expect(await a.process('none', async () => undefined)).toBeUndefined();
        expect(await b.process('none', async () => 'ran again')).toBeNull();
        const value = { ok: true, items: [1, 'two', { three: 3 }], note: 'é ✓' };
        expect(await a.process('nested', async () => value)).toEqual(value);
        expect(await b.process('nested', async () => 'ran again')).toEqual(value);
      }));
  });
}
