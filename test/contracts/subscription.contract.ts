import { describe, expect, it } from 'vitest';
import {
  SubscriptionError,
  ValidationError,
  type EventStoreOptions,
  type RecordedEvent,
} from 'causeway';
import { collect } from 'causeway/testing';
import type { StoreUnderTest } from './harness.js';

interface Stores {
  create(options?: EventStoreOptions): Promise<StoreUnderTest>;
}

const ev = (type: string, data: unknown = {}) => ({ type, data });
const fast = { pollIntervalMs: 25 };

/** Collects what a subscription hands over, so tests can compare it with the log. */
function recorder() {
  const seen: RecordedEvent[] = [];
  return { seen, handler: (event: RecordedEvent) => void seen.push(event) };
}

export function subscriptionContract(stores: Stores): void {
  describe('subscriptions', () => {
    it('catches up, then goes live, delivering every event once and in order', async () => {
      const { store } = await stores.create();
      await store.appendToStream('a', [ev('A1'), ev('A2')]);
      await store.appendToStream('b', [ev('B1')]);
      const { seen, handler } = recorder();
      const sub = store.subscribe('catch-up', handler, fast);
      await sub.waitForPosition(await store.headPosition());
      expect(seen.map((e) => e.type)).toEqual(['A1', 'A2', 'B1']);

      const { positions } = await store.appendToStream('a', [ev('A3'), ev('A4')]);
      await sub.waitForPosition(positions.at(-1)!);
      expect(sub.status).toBe('live');
      expect(seen.map((e) => e.type)).toEqual(['A1', 'A2', 'B1', 'A3', 'A4']);
      await sub.stop();
      expect(sub.status).toBe('stopped');
      await expect(sub.done).resolves.toBeUndefined();
    });

    it('starts at the end, or at a given position, when there is no checkpoint', async () => {
      const { store } = await stores.create();
      const first = await store.appendToStream('s', [ev('Old1'), ev('Old2'), ev('Old3')]);
      const fromEnd = recorder();
      const fromPos = recorder();
      const subEnd = store.subscribe('from-end', fromEnd.handler, { ...fast, from: 'end' });
      const subPos = store.subscribe('from-pos', fromPos.handler, {
        ...fast,
        from: first.positions[1]!,
      });
      await subPos.waitForPosition(first.positions[2]!);
      // 'end' is read when the subscription starts: append only after that.
      await subEnd.ready;
      const { positions } = await store.appendToStream('s', [ev('New')]);
      await Promise.all([
        subEnd.waitForPosition(positions[0]!),
        subPos.waitForPosition(positions[0]!),
      ]);
      expect(fromEnd.seen.map((e) => e.type)).toEqual(['New']);
      expect(fromPos.seen.map((e) => e.type)).toEqual(['Old2', 'Old3', 'New']);
    });

    it('filters by type and stream prefix but still advances past filtered events', async () => {
      const { store } = await stores.create();
      const { seen, handler } = recorder();
      const sub = store.subscribe('orders-only', handler, {
        ...fast,
        filter: { streamPrefix: 'order-', types: ['Placed'] },
      });
      await store.appendToStream('order-1', [ev('Placed'), ev('Shipped')]);
      await store.appendToStream('user-1', [ev('Placed')]);
      const last = await store.appendToStream('order-2', [ev('Placed'), ev('Cancelled')]);
      await sub.waitForPosition(last.positions[1]!);
      expect(seen.map((e) => `${e.streamId}:${e.type}`)).toEqual([
        'order-1:Placed',
        'order-2:Placed',
      ]);
      await sub.stop();
      expect(await store.checkpoints.load('orders-only')).toBe(last.positions[1]);
    });

    it('resumes from its durable checkpoint after a restart, without repeats', async () => {
      const sut = await stores.create();
      await sut.store.appendToStream('s', [ev('E1'), ev('E2'), ev('E3')]);
      const first = recorder();
      const sub = sut.store.subscribe('resumable', first.handler, fast);
      await sub.waitForPosition(await sut.store.headPosition());
      await sub.stop();
      await sut.store.close();

      const restarted = await sut.reopen();
      await restarted.appendToStream('s', [ev('E4'), ev('E5')]);
      const second = recorder();
      const sub2 = restarted.subscribe('resumable', second.handler, fast);
      await sub2.waitForPosition(await restarted.headPosition());
      expect(first.seen.map((e) => e.type)).toEqual(['E1', 'E2', 'E3']);
      expect(second.seen.map((e) => e.type)).toEqual(['E4', 'E5']);
      await sub2.stop();
    });

    it('stops on a handler error, keeps the checkpoint before the failed event, and resumes there', async () => {
      const sut = await stores.create();
      const { positions } = await sut.store.appendToStream('s', [
        ev('Ok1'),
        ev('Ok2'),
        ev('Poison'),
        ev('Ok3'),
      ]);
      const handled: string[] = [];
      const sub = sut.store.subscribe(
        'fragile',
        (event) => {
          if (event.type === 'Poison') throw new Error('boom');
          handled.push(event.type);
        },
        fast,
      );
      const error = await sub.done.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SubscriptionError);
      expect(error).toMatchObject({ code: 'SUBSCRIPTION_FAILED', position: positions[2] });
      expect((error as Error).cause).toMatchObject({ message: 'boom' });
      expect(sub.status).toBe('failed');
      expect(handled).toEqual(['Ok1', 'Ok2']);
      expect(await sut.store.checkpoints.load('fragile')).toBe(positions[1]);

      const again = recorder();
      const retry = sut.store.subscribe('fragile', again.handler, fast);
      await retry.waitForPosition(positions[3]!);
      expect(again.seen.map((e) => e.type)).toEqual(['Poison', 'Ok3']);
      await retry.stop();
    });

    it('sees every event exactly once while two writers append concurrently', async () => {
      const sut = await stores.create();
      const other = await sut.reopen();
      const { seen, handler } = recorder();
      const sub = sut.store.subscribe('busy', handler, { ...fast, batchSize: 7 });
      const writers = [sut.store, other].map(async (store, w) => {
        for (let i = 0; i < 40; i++) {
          await store.appendToStream(`w${w}-${i % 5}`, [
            ev('T', { w, i }),
            ev('T', { w, i, second: true }),
          ]);
        }
      });
      await Promise.all(writers);
      await sub.waitForPosition(await sut.store.headPosition(), { timeoutMs: 20_000 });
      const log = await collect(sut.store.readAll());
      expect(log).toHaveLength(160);
      expect(seen.map((e) => e.globalPosition)).toEqual(log.map((e) => e.globalPosition));
      await sub.stop();
    });

    it('delivers events appended through another handle within the poll interval', async () => {
      const sut = await stores.create();
      const other = await sut.reopen();
      const { seen, handler } = recorder();
      const sub = sut.store.subscribe('cross-handle', handler, { pollIntervalMs: 50, from: 'end' });
      await sub.ready;
      const { positions } = await other.appendToStream('x', [ev('FromElsewhere')]);
      await sub.waitForPosition(positions[0]!, { timeoutMs: 5_000 });
      expect(seen.map((e) => e.type)).toEqual(['FromElsewhere']);
      await sub.stop();
    });

    it('rejects an empty subscription name', async () => {
      const { store } = await stores.create();
      expect(() => store.subscribe('', () => undefined)).toThrow(ValidationError);
    });

    it('closing the store stops its subscriptions', async () => {
      const { store } = await stores.create();
      const sub = store.subscribe('closing', () => undefined, fast);
      await store.close();
      expect(sub.status).toBe('stopped');
    });
  });
}
