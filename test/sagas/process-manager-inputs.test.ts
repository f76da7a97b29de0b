/**
 * The inputs of a process manager: a transport consumer (duplicates recognised), an
 * event-store subscription (replays recognised), and a background `TimerScheduler` on
 * virtual time (30 minutes pass without sleeping).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMemoryEventStore,
  createTransport,
  MemoryOutboxStore,
  MemoryProcessStore,
  MemoryTransportDriver,
  ProcessManagerRuntime,
  TimerScheduler,
  type Consumer,
} from 'causeway';
import { VirtualTime } from 'causeway/testing';
import { fulfilment, PAYMENT_TIMEOUT_MS } from './order-fulfilment.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('process manager inputs', () => {
  it('from a transport consumer: a redelivered message (same id) is applied once', async () => {
    const outbox = new MemoryOutboxStore();
    const store = new MemoryProcessStore({ outbox });
    const runtime = new ProcessManagerRuntime({ store, managers: [fulfilment] });
    const transport = createTransport(new MemoryTransportDriver());
    cleanups.push(() => transport.close());
    const outcomes: string[] = [];
    let allSettled!: () => void;
    const settled = new Promise<void>((resolve) => (allSettled = resolve));
    const consumer: Consumer = await transport.subscribe('orders', 'fulfilment', async (m) => {
      outcomes.push(...Object.values(await runtime.handle(m)));
      if (outcomes.length === 3) allSettled();
    });
    cleanups.push(() => consumer.stop());
    await transport.publish('orders', [
      {
        id: 'placed-1',
        type: 'OrderPlaced',
        data: { orderId: 'o-1', amount: 5 },
        partitionkey: 'o-1',
      },
      { id: 'paid-1', type: 'PaymentReceived', data: { orderId: 'o-1' }, partitionkey: 'o-1' },
      { id: 'paid-1', type: 'PaymentReceived', data: { orderId: 'o-1' }, partitionkey: 'o-1' },
    ]);
    await settled;
    expect(outcomes).toEqual(['applied', 'applied', 'duplicate']);
    expect((await runtime.get('fulfilment', 'o-1'))?.state).toEqual({
      status: 'paid',
      amount: 5,
      payments: 1,
    });
    expect(await outbox.claim('reader', 100, 1_000)).toHaveLength(1);
  });

  it('from an event-store subscription: events replayed from an older checkpoint are recognised', async () => {
    const events = createMemoryEventStore();
    const store = new MemoryProcessStore({ outbox: new MemoryOutboxStore() });
    const runtime = new ProcessManagerRuntime({ store, managers: [fulfilment] });
    await events.appendToStream('order-o-1', [
      { type: 'OrderPlaced', data: { orderId: 'o-1', amount: 9 } },
      { type: 'PaymentReceived', data: { orderId: 'o-1' } },
    ]);
    const first = events.subscribe('fulfilment', runtime.eventHandler, {
      filter: { types: runtime.types },
    });
    await first.ready;
    await first.waitForPosition(await headOf(events), { timeoutMs: 5_000 });
    await first.stop();
    const applied = await runtime.get('fulfilment', 'o-1');
    expect(applied).toMatchObject({ version: 2, state: { payments: 1 } });
    // A crash before the checkpoint is stored replays the events: here, a fresh checkpoint.
    const outcomes: string[] = [];
    const replay = events.subscribe(
      'fulfilment-replay',
      async (event) => {
        outcomes.push(...Object.values(await runtime.handle(event)));
      },
      { filter: { types: runtime.types } },
    );
    await replay.waitForPosition(await headOf(events), { timeoutMs: 5_000 });
    await replay.stop();
    expect(outcomes).toEqual(['duplicate', 'duplicate']);
    expect((await runtime.get('fulfilment', 'o-1'))?.version).toBe(2);
  });

  it('a started scheduler on virtual time fires the payment timeout after 30 minutes', async () => {
    const time = new VirtualTime();
    const outbox = new MemoryOutboxStore();
    const store = new MemoryProcessStore({ outbox });
    const runtime = new ProcessManagerRuntime({ store, managers: [fulfilment], clock: time });
    const scheduler = new TimerScheduler({
      store: store.timers,
      fire: runtime.fireTimer,
      clock: time,
      sleep: time.sleep,
      pollIntervalMs: 60_000,
    });
    scheduler.start();
    cleanups.push(() => scheduler.stop());
    await runtime.handle({
      id: 'placed-1',
      type: 'OrderPlaced',
      source: 'test',
      specversion: '1.0',
      time: time.now(),
      datacontenttype: 'application/json',
      data: { orderId: 'o-1' },
    });
    await time.advance(PAYMENT_TIMEOUT_MS - 1);
    expect(scheduler.fired).toBe(0);
    await time.advance(1);
    expect(scheduler.fired).toBe(1);
    const [cancel] = await outbox.claim('reader', 100, 1_000);
    expect(cancel?.message).toMatchObject({ type: 'CancelOrder', causationid: expect.any(String) });
    await time.advance(PAYMENT_TIMEOUT_MS);
    expect(scheduler.fired).toBe(1);
  });
});

async function headOf(events: ReturnType<typeof createMemoryEventStore>): Promise<number> {
  let head = 0;
  for await (const event of events.readAll()) head = event.globalPosition;
  return head;
}
