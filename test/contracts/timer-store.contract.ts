/**
 * The timer-store contract: one pending timer per (scope, key, name), atomic claims of due
 * timers under a lease, a fired marker set once and only by the lease holder, release and
 * cleanup. Every `TimerStore` runs it unchanged (memory, SQLite, PostgreSQL).
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId, type TimerSchedule, type TimerStore } from 'causeway';
import type { ProcessStoreBackend, ProcessStoreHarness } from './process-store-harness.js';

const T0 = Date.UTC(2026, 0, 1);
const at = (ms: number) => new Date(T0 + ms);
const LEASE = 10_000;

function timer(overrides: Partial<TimerSchedule> = {}): TimerSchedule {
  return {
    id: newId(),
    scope: 'fulfilment',
    key: 'order-1',
    name: 'payment-timeout',
    dueAt: at(1_000),
    payload: { reason: 'no payment', amounts: [1, 2.5], nested: { ok: true } },
    ...overrides,
  };
}

export function timerStoreContract(harness: ProcessStoreHarness): void {
  describe(`TimerStore contract: ${harness.name}`, () => {
    let backend: ProcessStoreBackend;
    let timers: TimerStore;

    beforeEach(async () => {
      backend = await harness.create();
      timers = backend.store.timers;
    });
    afterEach(() => backend.close());
    afterAll(() => harness.cleanup());

    it('schedules and reads back every field', async () => {
      const scheduled = timer();
      await timers.schedule(scheduled);
      const stored = await timers.get(scheduled.id);
      expect(stored).toMatchObject({
        id: scheduled.id,
        scope: 'fulfilment',
        key: 'order-1',
        name: 'payment-timeout',
        dueAt: at(1_000),
        payload: scheduled.payload,
        leaseOwner: undefined,
        leaseExpiresAt: undefined,
        firedAt: undefined,
        attempts: 0,
      });
      expect(stored?.createdAt).toBeInstanceOf(Date);
      expect(await timers.pending('fulfilment', 'order-1')).toHaveLength(1);
      expect(await timers.get(newId())).toBeUndefined();
    });

    it('scheduling a name again replaces the pending timer; other names and keys are separate', async () => {
      const first = timer();
      const second = timer({ dueAt: at(5_000) });
      const other = timer({ name: 'reminder', dueAt: at(2_000) });
      const otherKey = timer({ key: 'order-2' });
      for (const t of [first, second, other, otherKey]) await timers.schedule(t);
      expect(await timers.get(first.id)).toBeUndefined();
      const pending = await timers.pending('fulfilment', 'order-1');
      expect(pending.map((t) => t.id)).toEqual([other.id, second.id]);
      expect(await timers.pending('fulfilment', 'order-2')).toHaveLength(1);
    });

    it('a cancelled timer is never claimed', async () => {
      const cancelled = timer();
      const kept = timer({ key: 'order-2' });
      await timers.schedule(cancelled);
      await timers.schedule(kept);
      expect(await timers.cancel('fulfilment', 'order-1', 'payment-timeout')).toBe(true);
      expect(await timers.cancel('fulfilment', 'order-1', 'payment-timeout')).toBe(false);
      const claimed = await timers.claimDue('s1', at(60_000), 10, LEASE);
      expect(claimed.map((t) => t.id)).toEqual([kept.id]);
    });

    it('claims only due timers, soonest first, up to the limit, under a lease', async () => {
      const late = timer({ key: 'a', dueAt: at(3_000) });
      const early = timer({ key: 'b', dueAt: at(1_000) });
      const middle = timer({ key: 'c', dueAt: at(2_000) });
      const future = timer({ key: 'd', dueAt: at(9_000) });
      for (const t of [late, early, middle, future]) await timers.schedule(t);
      expect(await timers.claimDue('s1', at(500), 10, LEASE)).toEqual([]);
      const claimed = await timers.claimDue('s1', at(3_000), 2, LEASE);
      expect(claimed.map((t) => t.id)).toEqual([early.id, middle.id]);
      expect(claimed[0]).toMatchObject({
        leaseOwner: 's1',
        leaseExpiresAt: at(3_000 + LEASE),
        attempts: 1,
      });
      const rest = await timers.claimDue('s2', at(3_000), 10, LEASE);
      expect(rest.map((t) => t.id)).toEqual([late.id]);
      expect(await timers.nextDueAt()).toEqual(at(1_000));
    });

    it('claims and next due times can be limited to some scopes', async () => {
      const mine = timer({ scope: 'fulfilment', dueAt: at(2_000) });
      const theirs = timer({ scope: 'billing', dueAt: at(1_000) });
      const third = timer({ scope: 'shipping', dueAt: at(3_000) });
      for (const t of [mine, theirs, third]) await timers.schedule(t);
      expect(await timers.nextDueAt(['fulfilment', 'shipping'])).toEqual(at(2_000));
      expect(await timers.nextDueAt()).toEqual(at(1_000));
      expect(await timers.nextDueAt(['nobody'])).toBeUndefined();
      const claimed = await timers.claimDue('s1', at(5_000), 10, LEASE, ['fulfilment', 'shipping']);
      expect(claimed.map((t) => t.id)).toEqual([mine.id, third.id]);
      expect(await timers.claimDue('s1', at(5_000), 10, LEASE, [])).toEqual([]);
      expect((await timers.claimDue('s2', at(5_000), 10, LEASE)).map((t) => t.id)).toEqual([
        theirs.id,
      ]);
    });

    it('a claimed timer is not claimed again while its lease lives, even by another connection', async () => {
      const t = timer();
      await timers.schedule(t);
      const other = (await backend.reopen()).timers;
      expect(await timers.claimDue('s1', at(1_000), 10, LEASE)).toHaveLength(1);
      expect(await other.claimDue('s2', at(1_000 + LEASE - 1), 10, LEASE)).toEqual([]);
      expect(await timers.claimDue('s1', at(1_000 + LEASE - 1), 10, LEASE)).toEqual([]);
      // The lease ran out: the holder died; another scheduler takes the timer over.
      const taken = await other.claimDue('s2', at(1_000 + LEASE), 10, LEASE);
      expect(taken).toMatchObject([{ id: t.id, leaseOwner: 's2', attempts: 2 }]);
    });

    it('only the lease holder marks a timer fired, once; a fired timer is never claimed again', async () => {
      const t = timer();
      await timers.schedule(t);
      await timers.claimDue('s1', at(1_000), 10, LEASE);
      expect(await timers.markFired(t.id, 's2', at(1_001))).toBe(false);
      expect(await timers.markFired(t.id, 's1', at(1_001))).toBe(true);
      expect(await timers.markFired(t.id, 's1', at(1_002))).toBe(false);
      expect((await timers.get(t.id))?.firedAt).toEqual(at(1_001));
      expect(await timers.claimDue('s2', at(1_000 + 10 * LEASE), 10, LEASE)).toEqual([]);
      expect(await timers.pending('fulfilment', 'order-1')).toEqual([]);
      expect(await timers.nextDueAt()).toBeUndefined();
      // A fired timer is history: a new timer of the same name can be scheduled beside it.
      const again = timer();
      await timers.schedule(again);
      expect((await timers.get(t.id))?.firedAt).toEqual(at(1_001));
      expect((await timers.pending('fulfilment', 'order-1')).map((p) => p.id)).toEqual([again.id]);
    });

    it('a holder whose lease ran out cannot mark the timer fired (fencing)', async () => {
      const t = timer();
      await timers.schedule(t);
      await timers.claimDue('s1', at(1_000), 10, LEASE);
      expect(await timers.markFired(t.id, 's1', at(1_000 + LEASE))).toBe(false);
      await timers.claimDue('s2', at(1_000 + LEASE), 10, LEASE);
      expect(await timers.markFired(t.id, 's1', at(1_000 + LEASE + 1))).toBe(false);
      expect(await timers.markFired(t.id, 's2', at(1_000 + LEASE + 1))).toBe(true);
    });

    it('a released timer is due again at the retry time, for any scheduler', async () => {
      const t = timer();
      await timers.schedule(t);
      await timers.claimDue('s1', at(1_000), 10, LEASE);
      await timers.release(t.id, 's2', at(2_000)); // not the holder: no effect
      expect(await timers.claimDue('s3', at(1_500), 10, LEASE)).toEqual([]);
      await timers.release(t.id, 's1', at(2_000));
      expect(await timers.claimDue('s3', at(1_999), 10, LEASE)).toEqual([]);
      expect(await timers.claimDue('s3', at(2_000), 10, LEASE)).toMatchObject([
        { id: t.id, leaseOwner: 's3', dueAt: at(2_000), attempts: 2 },
      ]);
    });

    it('cleanup deletes timers fired before the cut-off, nothing pending', async () => {
      const fired = timer({ key: 'a' });
      const pending = timer({ key: 'b', dueAt: at(99_000) });
      await timers.schedule(fired);
      await timers.schedule(pending);
      await timers.claimDue('s1', at(1_000), 10, LEASE);
      await timers.markFired(fired.id, 's1', at(1_000));
      expect(await timers.cleanup(at(1_000))).toBe(0);
      expect(await timers.cleanup(at(1_001))).toBe(1);
      expect(await timers.get(fired.id)).toBeUndefined();
      expect(await timers.get(pending.id)).toBeDefined();
    });

    it('claims from two connections at once never hand out one timer twice', async () => {
      const all = Array.from({ length: 40 }, (_, i) => timer({ key: `o-${i}`, dueAt: at(i) }));
      for (const t of all) await timers.schedule(t);
      const other = (await backend.reopen()).timers;
      const drain = async (store: TimerStore, owner: string) => {
        const got: string[] = [];
        for (;;) {
          const batch = await store.claimDue(owner, at(1_000), 3, LEASE);
          if (batch.length === 0) return got;
          got.push(...batch.map((t) => t.id));
        }
      };
      const [a, b] = await Promise.all([drain(timers, 's1'), drain(other, 's2')]);
      expect([...a, ...b].sort()).toEqual(all.map((t) => t.id).sort());
    });
  });
}
