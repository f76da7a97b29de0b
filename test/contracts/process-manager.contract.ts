/**
 * Process managers over a `ProcessStore`: correlation, state persisted across a restart,
 * duplicates not applied twice, timers that fire once (after a restart too), cancelled timers
 * that never fire, and the order/payment timeout example. Run by every store.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  defineProcessManager,
  ManualClock,
  ProcessManagerRuntime,
  TimerScheduler,
  UnknownProcessInstanceError,
  type ProcessStore,
} from 'causeway';
import {
  fulfilment,
  orderPlaced,
  PAYMENT_TIMEOUT_MS,
  paymentReceived,
} from '../sagas/order-fulfilment.js';
import type { ProcessStoreBackend, ProcessStoreHarness } from './process-store-harness.js';

export function processManagerContract(harness: ProcessStoreHarness): void {
  describe(`Process managers: ${harness.name}`, () => {
    let backend: ProcessStoreBackend;
    let clock: ManualClock;

    const runtimeOn = (store: ProcessStore) =>
      new ProcessManagerRuntime({ store, managers: [fulfilment], clock });
    const schedulerOn = (store: ProcessStore, runtime: ProcessManagerRuntime, owner: string) =>
      new TimerScheduler({ store: store.timers, fire: runtime.fireTimer, clock, owner });
    const types = async () =>
      (await backend.outbox()).map(({ destination, message }) => `${destination}:${message.type}`);

    beforeEach(async () => {
      backend = await harness.create();
      clock = new ManualClock(Date.UTC(2026, 0, 1));
    });
    afterEach(() => backend.close());
    afterAll(() => harness.cleanup());

    it('correlates messages to one instance per key and persists each state', async () => {
      const runtime = runtimeOn(backend.store);
      expect(await runtime.handle(orderPlaced('o-1', 30))).toEqual({ fulfilment: 'applied' });
      await runtime.handle(orderPlaced('o-2', 50));
      await runtime.handle(paymentReceived('o-1'));
      expect(await runtime.get('fulfilment', 'o-1')).toMatchObject({
        status: 'completed',
        version: 2,
        state: { status: 'paid', amount: 30, payments: 1 },
      });
      expect(await runtime.get('fulfilment', 'o-2')).toMatchObject({
        status: 'active',
        version: 1,
        state: { status: 'awaiting_payment', amount: 50, payments: 0 },
      });
      const emitted = await backend.outbox();
      expect(emitted).toHaveLength(1);
      expect(emitted[0]).toMatchObject({
        destination: 'shipping',
        message: { type: 'ShipOrder', data: { orderId: 'o-1' }, partitionkey: 'o-1' },
      });
    });

    it('applies a redelivered message once: the processed record commits with the state', async () => {
      const runtime = runtimeOn(backend.store);
      const placed = orderPlaced('o-1');
      const paid = paymentReceived('o-1');
      await runtime.handle(placed);
      expect(await runtime.handle(placed)).toEqual({ fulfilment: 'duplicate' });
      await runtime.handle(paid);
      // The instance is completed, but the duplicate is recognised as one before that.
      expect(await runtime.handle(paid)).toEqual({ fulfilment: 'duplicate' });
      const other = runtimeOn(await backend.reopen());
      expect(await other.handle(paid)).toEqual({ fulfilment: 'duplicate' });
      expect((await runtime.get('fulfilment', 'o-1'))?.state).toMatchObject({ payments: 1 });
      expect(await types()).toEqual(['shipping:ShipOrder']);
    });

    it('a handler that throws writes nothing: no state, no timer, no processed record', async () => {
      let fail = true;
      const flaky = defineProcessManager<{ n: number }>({
        name: 'flaky',
        correlate: { OrderPlaced: (m) => (m.data as { orderId: string }).orderId },
        initialState: { n: 0 },
        handlers: {
          OrderPlaced: (state, _m, ctx) => {
            ctx.schedule('t', { in: 1_000 });
            ctx.emit('x', { type: 'X', data: {} });
            if (fail) throw new Error('handler failed');
            return { n: state.n + 1 };
          },
        },
      });
      const runtime = new ProcessManagerRuntime({ store: backend.store, managers: [flaky], clock });
      const placed = orderPlaced('o-1');
      await expect(runtime.handle(placed)).rejects.toThrow('handler failed');
      expect(await runtime.get('flaky', 'o-1')).toBeUndefined();
      expect(await backend.store.timers.pending('flaky', 'o-1')).toEqual([]);
      expect(await backend.outbox()).toEqual([]);
      fail = false;
      expect(await runtime.handle(placed)).toEqual({ flaky: 'applied' });
      expect((await runtime.get('flaky', 'o-1'))?.state).toEqual({ n: 1 });
    });

    it('messages for one key applied at once from two stores apply one after another', async () => {
      const counter = defineProcessManager<{ count: number }>({
        name: 'counter',
        correlate: { Tick: (m) => (m.data as { key: string }).key },
        initialState: { count: 0 },
        handlers: { Tick: (state) => ({ count: state.count + 1 }) },
      });
      const a = new ProcessManagerRuntime({ store: backend.store, managers: [counter], clock });
      const b = new ProcessManagerRuntime({
        store: await backend.reopen(),
        managers: [counter],
        clock,
      });
      const ticks = Array.from({ length: 12 }, (_, i) => ({
        ...orderPlaced('unused'),
        id: `tick-${i}`,
        type: 'Tick',
        data: { key: 'k-1' },
      }));
      const outcomes = await Promise.all(
        ticks.map((tick, i) => (i % 2 === 0 ? a : b).handle(tick)),
      );
      expect(outcomes.every((o) => o['counter'] === 'applied')).toBe(true);
      expect(await a.get('counter', 'k-1')).toMatchObject({ version: 12, state: { count: 12 } });
    });

    it('out of order: a payment for an order not yet placed is ignored, or retried under "retry"', async () => {
      const runtime = runtimeOn(backend.store);
      const early = paymentReceived('o-1');
      expect(await runtime.handle(early)).toEqual({ fulfilment: 'unknown_instance' });
      expect(await runtime.get('fulfilment', 'o-1')).toBeUndefined();

      const strict = defineProcessManager({
        name: 'strict',
        correlate: {
          OrderPlaced: (m) => (m.data as { orderId: string }).orderId,
          PaymentReceived: (m) => (m.data as { orderId: string }).orderId,
        },
        initialState: { paid: false },
        startedBy: ['OrderPlaced'],
        unknownInstance: 'retry',
        handlers: { OrderPlaced: (s) => s, PaymentReceived: () => ({ paid: true }) },
      });
      const retrying = new ProcessManagerRuntime({
        store: backend.store,
        managers: [strict],
        clock,
      });
      const error = await retrying.handle(early).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownProcessInstanceError);
      expect(error).toMatchObject({ code: 'PROCESS_INSTANCE_UNKNOWN', key: 'o-1' });
      // Nothing was recorded: once the order is placed, the retried payment applies.
      await retrying.handle(orderPlaced('o-1'));
      expect(await retrying.handle(early)).toEqual({ strict: 'applied' });
      expect((await retrying.get('strict', 'o-1'))?.state).toEqual({ paid: true });
    });

    it('a message that correlates to nothing is skipped; a completed instance ignores late messages', async () => {
      const runtime = runtimeOn(backend.store);
      expect(await runtime.handle({ ...orderPlaced('x'), type: 'Unrelated' })).toEqual({
        fulfilment: 'uncorrelated',
      });
      await runtime.handle(orderPlaced('o-1'));
      await runtime.handle(paymentReceived('o-1'));
      expect(await runtime.handle(orderPlaced('o-1'))).toEqual({ fulfilment: 'completed' });
      expect((await runtime.get('fulfilment', 'o-1'))?.version).toBe(2);
    });

    it('order/payment: no payment within 30 minutes cancels the order, once', async () => {
      const runtime = runtimeOn(backend.store);
      const scheduler = schedulerOn(backend.store, runtime, 's1');
      await runtime.handle(orderPlaced('o-1'));
      clock.advance(PAYMENT_TIMEOUT_MS - 1);
      expect(await scheduler.runDue()).toBe(0);
      clock.advance(1);
      expect(await scheduler.runDue()).toBe(1);
      expect(await scheduler.runDue()).toBe(0);
      clock.advance(PAYMENT_TIMEOUT_MS);
      expect(await scheduler.runDue()).toBe(0);
      expect(await types()).toEqual(['orders:CancelOrder']);
      const [cancel] = await backend.outbox();
      expect(cancel?.message.data).toEqual({
        orderId: 'o-1',
        reason: 'payment-timeout',
        payload: { orderId: 'o-1' },
      });
      expect(await runtime.get('fulfilment', 'o-1')).toMatchObject({
        status: 'completed',
        state: { status: 'cancelled' },
      });
      // A payment after the cancellation changes nothing.
      expect(await runtime.handle(paymentReceived('o-1'))).toEqual({ fulfilment: 'completed' });
    });

    it('a cancelled timer never fires: payment in time ships the order', async () => {
      const runtime = runtimeOn(backend.store);
      const scheduler = schedulerOn(backend.store, runtime, 's1');
      await runtime.handle(orderPlaced('o-1'));
      clock.advance(10 * 60_000);
      await runtime.handle(paymentReceived('o-1'));
      expect(await backend.store.timers.pending('fulfilment', 'o-1')).toEqual([]);
      clock.advance(24 * 60 * 60_000);
      expect(await scheduler.runDue()).toBe(0);
      expect(await types()).toEqual(['shipping:ShipOrder']);
    });

    it('state and timers survive a restart; the timer fires once, after it', async () => {
      const before = runtimeOn(backend.store);
      await before.handle(orderPlaced('o-1', 70));
      await before.handle(orderPlaced('o-2', 80));
      // "Restart": a new store and runtime over the same data; the old ones are never used again.
      const store = await backend.reopen();
      const after = runtimeOn(store);
      expect((await after.get('fulfilment', 'o-1'))?.state).toEqual({
        status: 'awaiting_payment',
        amount: 70,
        payments: 0,
      });
      await after.handle(paymentReceived('o-2'));
      clock.advance(PAYMENT_TIMEOUT_MS);
      const scheduler = schedulerOn(store, after, 's-restarted');
      expect(await scheduler.runDue()).toBe(1);
      expect(await scheduler.runDue()).toBe(0);
      expect(await types()).toEqual(['shipping:ShipOrder', 'orders:CancelOrder']);
    });

    it('a scheduler that lost its lease writes nothing; the one that took over fires once', async () => {
      const runtime = runtimeOn(backend.store);
      await runtime.handle(orderPlaced('o-1'));
      clock.advance(PAYMENT_TIMEOUT_MS);
      const timers = backend.store.timers;
      const [claimed] = await timers.claimDue('slow', clock.now(), 10, 1_000);
      expect(claimed).toBeDefined();
      clock.advance(1_000); // the slow scheduler's lease runs out before it fires
      const other = schedulerOn(await backend.reopen(), runtimeOn(await backend.reopen()), 'fast');
      expect(await other.runDue()).toBe(1);
      expect(await runtime.fireTimer(claimed!, 'slow', clock.now())).toBe(false);
      expect(await types()).toEqual(['orders:CancelOrder']);
      expect((await runtime.get('fulfilment', 'o-1'))?.version).toBe(2);
    });

    it('two schedulers racing over the same due timers fire each once', async () => {
      const runtime = runtimeOn(backend.store);
      const orders = Array.from({ length: 20 }, (_, i) => `o-${i}`);
      for (const id of orders) await runtime.handle(orderPlaced(id));
      clock.advance(PAYMENT_TIMEOUT_MS);
      const other = await backend.reopen();
      const a = new TimerScheduler({
        store: backend.store.timers,
        fire: runtime.fireTimer,
        clock,
        owner: 'a',
        batchSize: 3,
      });
      const b = new TimerScheduler({
        store: other.timers,
        fire: runtimeOn(other).fireTimer,
        clock,
        owner: 'b',
        batchSize: 3,
      });
      const [firedByA, firedByB] = await Promise.all([a.runDue(), b.runDue()]);
      expect(firedByA + firedByB).toBe(orders.length);
      const cancelled = (await backend.outbox()).map(
        ({ message }) => (message.data as { orderId: string }).orderId,
      );
      expect(cancelled.sort()).toEqual([...orders].sort());
    });

    it('a started scheduler is woken by a commit that schedules, and stops on request', async () => {
      let fired!: (key: string) => void;
      const firing = new Promise<string>((resolve) => (fired = resolve));
      const prompt = defineProcessManager<{ done: boolean }>({
        name: 'prompt',
        correlate: { OrderPlaced: (m) => (m.data as { orderId: string }).orderId },
        initialState: { done: false },
        handlers: {
          OrderPlaced: (state, _m, ctx) => {
            ctx.schedule('now', { in: 0 });
            return state;
          },
        },
        timers: {
          now: (_state, _timer, ctx) => {
            fired(ctx.key);
            return { done: true };
          },
        },
      });
      // Real clocks; a poll so long that only the wake-up can explain a prompt firing. The sleep
      // tells the test when the scheduler has finished its first (empty) look and waits.
      let asleep!: () => void;
      const sleeping = new Promise<void>((resolve) => (asleep = resolve));
      const runtime = new ProcessManagerRuntime({ store: backend.store, managers: [prompt] });
      const scheduler = new TimerScheduler({
        store: backend.store.timers,
        fire: runtime.fireTimer,
        pollIntervalMs: 10 * 60_000,
        sleep: (ms, signal) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(resolve, ms);
            signal?.addEventListener('abort', () => {
              clearTimeout(timer);
              reject(signal.reason);
            });
            asleep();
          }),
      });
      scheduler.start();
      try {
        await sleeping;
        await runtime.handle(orderPlaced('o-1'));
        expect(await firing).toBe('o-1');
      } finally {
        await scheduler.stop();
      }
      expect(scheduler.fired).toBe(1);
      expect((await runtime.get('prompt', 'o-1'))?.state).toEqual({ done: true });
    });

    it('a firing that throws is given back and fires later, once', async () => {
      let fail = true;
      const fragile = defineProcessManager<{ fired: number }>({
        name: 'fragile',
        correlate: { OrderPlaced: (m) => (m.data as { orderId: string }).orderId },
        initialState: { fired: 0 },
        handlers: {
          OrderPlaced: (state, _m, ctx) => {
            ctx.schedule('t', { in: 1_000 });
            return state;
          },
        },
        timers: {
          t: (state) => {
            if (fail) throw new Error('firing failed');
            return { fired: state.fired + 1 };
          },
        },
      });
      const runtime = new ProcessManagerRuntime({
        store: backend.store,
        managers: [fragile],
        clock,
      });
      const errors: unknown[] = [];
      const scheduler = new TimerScheduler({
        store: backend.store.timers,
        fire: runtime.fireTimer,
        clock,
        retryDelayMs: 5_000,
        onError: (error) => errors.push(error),
      });
      await runtime.handle(orderPlaced('o-1'));
      clock.advance(1_000);
      expect(await scheduler.runDue()).toBe(0);
      expect(errors).toHaveLength(1);
      fail = false;
      clock.advance(4_999);
      expect(await scheduler.runDue()).toBe(0);
      clock.advance(1);
      expect(await scheduler.runDue()).toBe(1);
      expect(await scheduler.runDue()).toBe(0);
      expect((await runtime.get('fragile', 'o-1'))?.state).toEqual({ fired: 1 });
    });
  });
}
