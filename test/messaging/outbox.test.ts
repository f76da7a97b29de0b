import { describe, expect, it } from 'vitest';
import {
  createTransport,
  MemoryOutboxStore,
  MemoryTransportDriver,
  OutboxRelay,
  toMessage,
  type Message,
  type TransportDriver,
} from 'causeway';
import { outboxContract } from '../contracts/outbox.contract.js';

/**
 * The reference store under the contract. Everything in one process is "one transaction", so
 * the harness stands in for one: writes wait in a buffer and reach the store on commit.
 */
outboxContract({
  name: 'memory',
  async create() {
    const store = new MemoryOutboxStore();
    return {
      store,
      async transaction(work) {
        const buffered: [string, readonly Message[]][] = [];
        const result = await work(async (destination, messages) => {
          buffered.push([destination, messages]);
        });
        for (const [destination, messages] of buffered) store.write(destination, messages);
        return result;
      },
      pending: async () => store.pending(),
      async close() {},
    };
  },
  async cleanup() {},
});

/** A broker that refuses the first `failures` publishes, as one restarting would. */
function flaky(driver: TransportDriver, failures: number): TransportDriver {
  let left = failures;
  return {
    kind: 'flaky',
    publish: async (destination, messages) => {
      if (left-- > 0) throw new Error('broker unavailable');
      await driver.publish(destination, messages);
    },
    consume: (...args) => driver.consume(...args),
    close: () => driver.close(),
  };
}

describe('OutboxRelay', () => {
  it('publishes every committed message once, in order per key, through broker failures and with two relays', async () => {
    const broker = new MemoryTransportDriver();
    const transport = createTransport(broker);
    const outbox = new MemoryOutboxStore();
    const received: Message[] = [];
    let resolveAll!: () => void;
    const all = new Promise<void>((resolve) => (resolveAll = resolve));
    await transport.subscribe('orders', 'audit', (m) => {
      received.push(m);
      if (received.length === 60) resolveAll();
    });
    const errors: unknown[] = [];
    const relays = [
      new OutboxRelay({
        store: outbox,
        driver: flaky(broker, 3),
        batchSize: 7,
        pollIntervalMs: 5,
        retry: { initialDelayMs: 1, maxDelayMs: 5 },
        onError: (e) => errors.push(e),
      }),
      new OutboxRelay({ store: outbox, driver: broker, batchSize: 5, pollIntervalMs: 5 }),
    ];
    for (let i = 0; i < 60; i++) {
      outbox.write('orders', [
        toMessage({ type: 'OrderChanged', data: { i }, partitionkey: `o-${i % 4}` }),
      ]);
    }
    await all;
    await Promise.all(relays.map((r) => r.stop()));
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(received.map((m) => m.id)).size).toBe(60);
    expect(received).toHaveLength(60);
    for (const key of ['o-0', 'o-1', 'o-2', 'o-3']) {
      const order = received
        .filter((m) => m.partitionkey === key)
        .map((m) => (m.data as { i: number }).i);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(outbox.pending()).toBe(0);
    expect(relays[0]!.published + relays[1]!.published).toBe(60);
    await transport.close();
  });
});
