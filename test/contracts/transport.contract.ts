/**
 * The transport contract: every broker runs it unchanged. Delivery is at-least-once; these
 * tests pin down ordering per key, load sharing, retries through the broker, dead letters
 * with reasons, poison isolation, the concurrency limit, graceful drain, and crash safety
 * (a consumer process killed with SIGKILL, a broker restart: see transport-crash.contract.ts).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventRegistry, PermanentError, type Consumer, type Message } from 'causeway';
import { transportCrashCases } from './transport-crash.contract.js';
import type { TransportHarness, TransportUnderTest } from './transport-harness.js';

/** Resolves once `count` items were collected: tests await deliveries, never sleep for them. */
function collector<T>(count: number) {
  const items: T[] = [];
  let done!: () => void;
  const complete = new Promise<void>((resolve) => (done = resolve));
  return {
    items,
    complete,
    add(item: T) {
      items.push(item);
      if (items.length === count) done();
    },
  };
}

const work = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function transportContract(harness: TransportHarness): void {
  describe(`Transport contract: ${harness.name}`, () => {
    const open: TransportUnderTest[] = [];
    const consumers: Consumer[] = [];
    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.stop()));
      await Promise.all(open.splice(0).map((t) => t.close()));
    });
    afterAll(() => harness.cleanup());
    const create = async () => {
      const t = await harness.create();
      open.push(t);
      return t;
    };
    const track = (c: Consumer) => {
      consumers.push(c);
      return c;
    };

    it('delivers what was published, envelope intact, once per group', async () => {
      const { transport, destination } = await create();
      const dest = destination();
      const a = collector<Message>(2);
      const b = collector<Message>(2);
      track(await transport.subscribe(dest, 'billing', (m) => a.add(m)));
      track(await transport.subscribe(dest, 'shipping', (m) => b.add(m)));
      const ids = await transport.publish(dest, [
        {
          type: 'OrderPlaced',
          data: { orderId: 'o1', total: 9.5 },
          subject: 'orders/o1',
          correlationid: 'c-1',
          partitionkey: 'o1',
          extensions: { tenant: 't1' },
        },
        { type: 'OrderPaid', data: { orderId: 'o1' } },
      ]);
      await Promise.all([a.complete, b.complete]);
      expect(a.items.map((m) => m.id).sort()).toEqual([...ids].sort());
      expect(b.items.map((m) => m.id).sort()).toEqual([...ids].sort());
      const placed = a.items.find((m) => m.type === 'OrderPlaced')!;
      expect(placed).toMatchObject({
        specversion: '1.0',
        source: 'causeway',
        subject: 'orders/o1',
        data: { orderId: 'o1', total: 9.5 },
        correlationid: 'c-1',
        partitionkey: 'o1',
        datacontenttype: 'application/json',
        extensions: { tenant: 't1' },
      });
      expect(placed.time).toBeInstanceOf(Date);
    });

    it('competing consumers in one group share the messages, none twice', async () => {
      const { transport, destination } = await create();
      const dest = destination();
      const seen = collector<{ consumer: string; n: number }>(40);
      for (const name of ['c1', 'c2']) {
        track(
          await transport.subscribe(
            dest,
            'workers',
            async (m) => {
              await work(2);
              seen.add({ consumer: name, n: (m.data as { n: number }).n });
            },
            { concurrency: 2 },
          ),
        );
      }
      await transport.publish(
        dest,
        Array.from({ length: 40 }, (_, n) => ({ type: 'Job', data: { n } })),
      );
      await seen.complete;
      expect(seen.items.map((s) => s.n).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 40 }, (_, n) => n),
      );
      expect(new Set(seen.items.map((s) => s.consumer))).toEqual(new Set(['c1', 'c2']));
    });

    it('keeps per-key order under concurrency, runs keys in parallel, never beyond the limit', async () => {
      const { transport, destination } = await create();
      const dest = destination();
      const done = collector<{ key: string; n: number }>(100);
      let active = 0;
      let peak = 0;
      track(
        await transport.subscribe(
          dest,
          'ordered',
          async (m) => {
            active++;
            peak = Math.max(peak, active);
            await work((m.data as { n: number }).n % 3);
            active--;
            done.add({ key: m.partitionkey!, n: (m.data as { n: number }).n });
          },
          { concurrency: 4 },
        ),
      );
      const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
      await transport.publish(
        dest,
        Array.from({ length: 100 }, (_, n) => ({
          type: 'Step',
          data: { n },
          partitionkey: keys[n % 5]!,
        })),
      );
      await done.complete;
      for (const key of keys) {
        const order = done.items.filter((d) => d.key === key).map((d) => d.n);
        expect(order).toEqual([...order].sort((x, y) => x - y));
        expect(order).toHaveLength(20);
      }
      expect(peak).toBeGreaterThan(1);
      expect(peak).toBeLessThanOrEqual(4);
    });

    it('retries a failing message after a backoff delay, then succeeds', async () => {
      const { transport, destination } = await create();
      const dest = destination();
      const attempts: { attempt: number; at: number }[] = [];
      const ok = collector<number>(1);
      track(
        await transport.subscribe(
          dest,
          'flaky',
          (_m, { attempt }) => {
            attempts.push({ attempt, at: performance.now() });
            if (attempt < 3) throw new Error(`transient failure ${attempt}`);
            ok.add(attempt);
          },
          { retry: { maxAttempts: 5, initialDelayMs: 40, maxDelayMs: 200 } },
        ),
      );
      await transport.publish(dest, [{ type: 'Charge', data: {} }]);
      await ok.complete;
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
      // Full jitter: each wait is within [0, 40 × 2^(n-1)] ms, plus scheduling slack.
      expect(attempts[2]!.at - attempts[0]!.at).toBeLessThan(40 + 80 + 1_000);
    });

    it('dead-letters after the last attempt with the reason, error and attempts', async () => {
      const t = await create();
      const dest = t.destination();
      const tries = collector<number>(3);
      track(
        await t.transport.subscribe(
          dest,
          'doomed',
          (_m, { attempt }) => {
            tries.add(attempt);
            throw new TypeError('card declined by a bug');
          },
          { retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 10 } },
        ),
      );
      await t.transport.publish(dest, [{ type: 'Charge', data: { amount: 5 } }]);
      await tries.complete;
      const letters = await eventuallyLetters(t, dest, 1);
      expect(letters[0]!.failure).toMatchObject({
        reason: 'max_attempts',
        errorClass: 'TypeError',
        errorMessage: 'card declined by a bug',
        attempts: 3,
        destination: dest,
        group: 'doomed',
      });
      expect(letters[0]!.failure.errorStack).toContain('TypeError');
      expect(letters[0]!.failure.lastFailureAt.getTime()).toBeGreaterThanOrEqual(
        letters[0]!.failure.firstFailureAt.getTime(),
      );
      expect(JSON.parse(letters[0]!.body)).toEqual({ amount: 5 });
    });

    it('a permanent error dead-letters at once; poison, unknown types and schema violations never block the rest', async () => {
      const t = await create();
      const dest = t.destination();
      const handled = collector<string>(1);
      const registry = new EventRegistry().register('Paid', {
        schema: z.object({ amount: z.number().positive(), refuse: z.boolean().optional() }),
      });
      track(
        await t.transport.subscribe(
          dest,
          'strict',
          (m) => {
            if ((m.data as { refuse?: boolean }).refuse)
              throw new PermanentError('payment refused');
            handled.add(m.id);
          },
          {
            types: ['Paid'],
            registry,
            retry: { maxAttempts: 5, initialDelayMs: 5, maxDelayMs: 10 },
          },
        ),
      );
      await t.publishPoison(dest, '{not json');
      await t.transport.publish(dest, [
        { type: 'Unknown', data: {} },
        { type: 'Paid', data: { amount: -1 } },
        { type: 'Paid', data: { amount: 1, refuse: true } },
      ]);
      const [goodId] = await t.transport.publish(dest, [{ type: 'Paid', data: { amount: 2 } }]);
      await handled.complete;
      expect(handled.items).toEqual([goodId]);
      const letters = await eventuallyLetters(t, dest, 4);
      expect(letters.map((l) => [l.failure.reason, l.failure.attempts]).sort()).toEqual(
        [
          ['permanent_error', 1],
          ['schema_violation', 1],
          ['undecodable', 1],
          ['unknown_type', 1],
        ].sort(),
      );
      expect(
        letters.find((l) => l.failure.reason === 'schema_violation')!.failure.errorMessage,
      ).toContain('data.amount');
      expect(letters.find((l) => l.failure.reason === 'undecodable')!.body).toBe('{not json');
    });

    it('drains on stop: running handlers finish, nothing is lost, the rest is delivered to the next consumer', async () => {
      const { transport, destination } = await create();
      const dest = destination();
      const finished: number[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const started = collector<number>(2);
      const first = await transport.subscribe(
        dest,
        'drain',
        async (m) => {
          started.add((m.data as { n: number }).n);
          await gate;
          finished.push((m.data as { n: number }).n);
        },
        { concurrency: 2, prefetch: 10 },
      );
      await transport.publish(
        dest,
        Array.from({ length: 10 }, (_, n) => ({ type: 'Job', data: { n } })),
      );
      await started.complete;
      const stopping = first.stop();
      release();
      await stopping;
      expect(finished.sort()).toEqual([...started.items].sort());
      const rest = collector<number>(10 - finished.length);
      track(await transport.subscribe(dest, 'drain', (m) => rest.add((m.data as { n: number }).n)));
      await rest.complete;
      expect([...finished, ...rest.items].sort((x, y) => x - y)).toEqual(
        Array.from({ length: 10 }, (_, n) => n),
      );
    });

    transportCrashCases(harness, create);
  });
}

/** Dead letters are written after the handler returns; wait until the broker shows them. */
async function eventuallyLetters(t: TransportUnderTest, destination: string, count: number) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const letters = await t.deadLetters(destination);
    if (letters.length >= count || Date.now() > deadline) return letters;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
