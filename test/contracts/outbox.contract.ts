import { afterAll, describe, expect, it } from 'vitest';
import {
  MemoryTransportDriver,
  OutboxRelay,
  toMessage,
  type Message,
  type TransportDriver,
} from 'causeway';
import type { OutboxHarness, OutboxUnderTest } from './messaging-harness.js';

function message(i: number, partitionkey?: string): Message {
  return toMessage({
    type: 'OrderChanged',
    data: { i },
    ...(partitionkey === undefined ? {} : { partitionkey }),
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A broker double that records every publish and can refuse the first few, as one restarting
 * would. It wraps the in-memory transport, which confirms each publish when it returns.
 */
export function recordingBroker(failures = 0) {
  const inner = new MemoryTransportDriver();
  const published: { destination: string; message: Message }[] = [];
  let left = failures;
  const waiters: { count: number; resolve: () => void }[] = [];
  const driver: TransportDriver = {
    kind: 'recording',
    publish: async (destination, messages) => {
      if (left-- > 0) throw new Error('broker unavailable');
      await inner.publish(destination, messages);
      for (const m of messages) published.push({ destination, message: m });
      for (const waiter of [...waiters]) {
        if (published.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    },
    consume: (...args) => inner.consume(...args),
    close: () => inner.close(),
  };
  const reached = (count: number) =>
    published.length >= count
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ count, resolve }));
  return { driver, published, reached };
}

/**
 * Per destination and key (the unit of ordering), the `i`s in publish order must ascend; no
 * id may appear twice, none may be missing.
 */
export function expectExactlyOnceInOrder(
  published: readonly { destination: string; message: Message }[],
  total: number,
): void {
  const ids = published.map((p) => p.message.id);
  expect(new Set(ids).size).toBe(total);
  expect(ids).toHaveLength(total);
  const byKey = new Map<string, number[]>();
  for (const { destination, message: m } of published) {
    if (m.partitionkey === undefined) continue;
    const key = `${destination}/${m.partitionkey}`;
    byKey.set(key, [...(byKey.get(key) ?? []), (m.data as { i: number }).i]);
  }
  for (const [key, order] of byKey) {
    expect(order, `order of ${key}`).toEqual([...order].sort((a, b) => a - b));
  }
}

/**
 * The guarantees every `OutboxStore` gives, run against each backend unchanged: writes join
 * the caller's transaction; claims are leases that keep relays apart and keys in order; the
 * relay publishes each committed message once with broker confirmation.
 */
export function outboxContract(harness: OutboxHarness): void {
  describe(`OutboxStore contract: ${harness.name}`, () => {
    afterAll(() => harness.cleanup());

    async function withOutbox(test: (outbox: OutboxUnderTest) => Promise<void>) {
      const outbox = await harness.create();
      try {
        await test(outbox);
      } finally {
        await outbox.close();
      }
    }

    it('writes are invisible until the transaction commits and vanish when it rolls back', () =>
      withOutbox(async (outbox) => {
        await outbox.transaction(async (write) => {
          await write('orders', [message(1), message(2)]);
          expect(await outbox.pending()).toBe(0);
        });
        expect(await outbox.pending()).toBe(2);
        await expect(
          outbox.transaction(async (write) => {
            await write('orders', [message(3)]);
            throw new Error('business rule failed');
          }),
        ).rejects.toThrow('business rule failed');
        expect(await outbox.pending()).toBe(2);
        const claimed = await outbox.store.claim('relay-a', 10, 30_000);
        expect(claimed.map((r) => (r.message.data as { i: number }).i)).toEqual([1, 2]);
      }));

    it('claims oldest first up to the limit, keeps the message intact, and settles with markSent', () =>
      withOutbox(async (outbox) => {
        const written = [message(1), message(2), message(3, 'k'), message(4)];
        written[0]!.extensions['tenant'] = 'acme';
        await outbox.transaction((write) => write('orders', written));
        const first = await outbox.store.claim('relay-a', 3, 30_000);
        expect(first.map((r) => r.message.id)).toEqual(written.slice(0, 3).map((m) => m.id));
        expect(first[0]!.message).toEqual(written[0]);
        expect(first.every((r) => r.destination === 'orders')).toBe(true);
        const sequences = first.map((r) => r.sequence);
        expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
        // Another relay finds only what is not leased.
        const second = await outbox.store.claim('relay-b', 10, 30_000);
        expect(second.map((r) => r.message.id)).toEqual([written[3]!.id]);
        // Only the holder can settle.
        await outbox.store.markSent('relay-b', sequences);
        expect(await outbox.pending()).toBe(4);
        await outbox.store.markSent('relay-a', sequences);
        await outbox.store.markSent('relay-b', [second[0]!.sequence]);
        expect(await outbox.pending()).toBe(0);
        expect(await outbox.store.claim('relay-c', 10, 30_000)).toEqual([]);
      }));

    it('keeps a key in order: its records wait while an older one is claimed by another relay or waits for a retry', () =>
      withOutbox(async (outbox) => {
        await outbox.transaction((write) =>
          write('orders', [message(1, 'a'), message(2, 'a'), message(3, 'b'), message(4)]),
        );
        const a = await outbox.store.claim('relay-a', 1, 30_000);
        expect(a.map((r) => (r.message.data as { i: number }).i)).toEqual([1]);
        const b = await outbox.store.claim('relay-b', 10, 30_000);
        expect(b.map((r) => (r.message.data as { i: number }).i)).toEqual([3, 4]);
        // Publishing failed: the record comes back after the delay, and its key waits with it.
        await outbox.store.release('relay-a', [a[0]!.sequence], 60_000);
        expect(await outbox.store.claim('relay-c', 10, 30_000)).toEqual([]);
        await outbox.transaction((write) => write('orders', [message(5, 'a'), message(6, 'c')]));
        const c = await outbox.store.claim('relay-c', 10, 30_000);
        expect(c.map((r) => (r.message.data as { i: number }).i)).toEqual([6]);
      }));

    it('a released record with no delay is claimable again at once, with its key behind it', () =>
      withOutbox(async (outbox) => {
        await outbox.transaction((write) => write('orders', [message(1, 'a'), message(2, 'a')]));
        const a = await outbox.store.claim('relay-a', 10, 30_000);
        expect(a).toHaveLength(2);
        await outbox.store.release(
          'relay-a',
          a.map((r) => r.sequence),
          0,
        );
        const b = await outbox.store.claim('relay-b', 10, 30_000);
        expect(b.map((r) => (r.message.data as { i: number }).i)).toEqual([1, 2]);
      }));

    it('a relay that stops renewing loses its lease to another; its late markSent is ignored', () =>
      withOutbox(async (outbox) => {
        await outbox.transaction((write) => write('orders', [message(1, 'a'), message(2)]));
        // A lease a loaded machine cannot let lapse between two calls, then a wait past it:
        // the lease is the only thing that ends.
        const dead = await outbox.store.claim('relay-dead', 10, 800);
        expect(dead).toHaveLength(2);
        expect(await outbox.store.claim('relay-b', 10, 30_000)).toEqual([]);
        await sleep(1_100);
        const taken = await outbox.store.claim('relay-b', 10, 30_000);
        expect(taken.map((r) => r.sequence)).toEqual(dead.map((r) => r.sequence));
        await outbox.store.markSent(
          'relay-dead',
          dead.map((r) => r.sequence),
        );
        expect(await outbox.pending()).toBe(2);
        await outbox.store.markSent(
          'relay-b',
          taken.map((r) => r.sequence),
        );
        expect(await outbox.pending()).toBe(0);
      }));

    it('cleanup deletes sent records older than the cutoff, never unsent ones', () =>
      withOutbox(async (outbox) => {
        await outbox.transaction((write) => write('orders', [message(1), message(2), message(3)]));
        const claimed = await outbox.store.claim('relay-a', 2, 30_000);
        await outbox.store.markSent(
          'relay-a',
          claimed.map((r) => r.sequence),
        );
        expect(await outbox.store.cleanup(new Date(Date.now() - 60_000))).toBe(0);
        expect(await outbox.store.cleanup(new Date(Date.now() + 60_000))).toBe(2);
        expect(await outbox.pending()).toBe(1);
        expect(await outbox.store.cleanup(new Date(Date.now() + 60_000))).toBe(0);
      }));

    it('backlog counts unsent records per destination (claimed ones too) with the oldest write time', () =>
      withOutbox(async (outbox) => {
        expect(await outbox.store.backlog()).toEqual([]);
        const before = Date.now();
        await outbox.transaction((write) => write('orders', [message(1)]));
        // The clock must move past the first write, or "oldest" could not tell the writes apart.
        const between = Date.now() + 2;
        while (Date.now() < between + 2) await new Promise((resolve) => setImmediate(resolve));
        await outbox.transaction(async (write) => {
          await write('orders', [message(2), message(3)]);
          await write('invoices', [message(4)]);
        });
        const [invoices, orders] = await outbox.store.backlog();
        expect(invoices).toMatchObject({ destination: 'invoices', pending: 1 });
        expect(orders).toMatchObject({ destination: 'orders', pending: 3 });
        // Timestamps may be truncated to the millisecond on the way back.
        expect(orders!.oldestCreatedAt.getTime()).toBeGreaterThanOrEqual(before - 1);
        expect(orders!.oldestCreatedAt.getTime()).toBeLessThan(between);
        const [first] = await outbox.store.claim('relay-a', 1, 30_000);
        expect((await outbox.store.backlog())[1]).toMatchObject({ pending: 3 });
        await outbox.store.markSent('relay-a', [first!.sequence]);
        const after = await outbox.store.backlog();
        expect(after.map((b) => [b.destination, b.pending])).toEqual([
          ['invoices', 1],
          ['orders', 2],
        ]);
        expect(after[1]!.oldestCreatedAt.getTime()).toBeGreaterThanOrEqual(between - 1);
      }));

    it('two relays publish every committed message exactly once, in order per key, through broker failures', () =>
      withOutbox(async (outbox) => {
        const total = 120;
        const broker = recordingBroker(3);
        const errors: unknown[] = [];
        const relays = [
          new OutboxRelay({
            store: outbox.store,
            driver: broker.driver,
            batchSize: 7,
            pollIntervalMs: 5,
            retry: { initialDelayMs: 1, maxDelayMs: 5 },
            onError: (e) => errors.push(e),
          }),
          new OutboxRelay({
            store: outbox.store,
            driver: broker.driver,
            batchSize: 5,
            pollIntervalMs: 5,
            retry: { initialDelayMs: 1, maxDelayMs: 5 },
            onError: (e) => errors.push(e),
          }),
        ];
        try {
          for (let i = 0; i < total; i += 4) {
            await outbox.transaction((write) =>
              write(
                i % 8 === 0 ? 'orders' : 'invoices',
                [0, 1, 2, 3].map((j) => message(i + j, `key-${(i + j) % 5}`)),
              ),
            );
          }
          await broker.reached(total);
        } finally {
          await Promise.all(relays.map((r) => r.stop()));
        }
        // The broker refused three publishes (whichever relay made them); all were retried.
        expect(errors).toHaveLength(3);
        expectExactlyOnceInOrder(broker.published, total);
        expect(relays[0]!.published + relays[1]!.published).toBe(total);
        expect(await outbox.pending()).toBe(0);
      }));

    it('a relay deletes sent records older than keepSentMs on its schedule', () =>
      withOutbox(async (outbox) => {
        await outbox.transaction((write) => write('orders', [message(1), message(2), message(3)]));
        const claimed = await outbox.store.claim('relay-a', 10, 30_000);
        await outbox.store.markSent(
          'relay-a',
          claimed.map((r) => r.sequence),
        );
        // Sent strictly before the relay's cutoff (now - 0), also at millisecond resolution.
        await sleep(10);
        // A relay's first round includes a cleanup; stopping it at once lets exactly one run.
        const relay = new OutboxRelay({
          store: outbox.store,
          driver: recordingBroker().driver,
          keepSentMs: 0,
          cleanupIntervalMs: 60_000,
          pollIntervalMs: 60_000,
        });
        await relay.stop();
        expect(await outbox.store.cleanup(new Date(Date.now() + 60_000))).toBe(0);
      }));

    it('onWrite wakes an idle relay for a committed write without waiting for its poll', () =>
      withOutbox(async (outbox) => {
        const broker = recordingBroker();
        const relay = new OutboxRelay({
          store: outbox.store,
          driver: broker.driver,
          pollIntervalMs: 60_000,
        });
        try {
          await outbox.listening?.();
          await outbox.transaction((write) => write('orders', [message(1)]));
          await broker.reached(1);
          await outbox.transaction((write) => write('orders', [message(2)]));
          await broker.reached(2);
        } finally {
          await relay.stop();
        }
        expect(broker.published.map((p) => (p.message.data as { i: number }).i)).toEqual([1, 2]);
      }));
  });
}
