import { afterAll, describe, expect, it } from 'vitest';
import { toMessage, withInbox } from 'causeway';
import type { InboxHarness, InboxUnderTest } from './messaging-harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The guarantees every `InboxStore` gives, run against each backend unchanged: the record and
 * the handler's effects commit together; a redelivery is a duplicate and does not run the
 * handler; concurrent deliveries of one message run it once.
 */
export function inboxContract(harness: InboxHarness): void {
  describe(`InboxStore contract: ${harness.name}`, () => {
    afterAll(() => harness.cleanup());

    async function withInboxStore(test: (inbox: InboxUnderTest) => Promise<void>) {
      const inbox = await harness.create();
      try {
        await test(inbox);
      } finally {
        await inbox.close();
      }
    }

    it('runs a message once per group: a redelivery is a duplicate and the handler does not run', () =>
      withInboxStore(async ({ store, other, effects }) => {
        let runs = 0;
        const work = async (transaction: unknown) => {
          runs++;
          await effects.record(transaction, 'm-1');
        };
        expect(await store.process('billing', 'm-1', work)).toBe('processed');
        expect(await store.process('billing', 'm-1', work)).toBe('duplicate');
        expect(await other.process('billing', 'm-1', work)).toBe('duplicate');
        expect(runs).toBe(1);
        expect(await effects.count()).toBe(1);
        // Another group keeps its own record.
        expect(await other.process('audit', 'm-1', work)).toBe('processed');
        expect(runs).toBe(2);
      }));

    it('a handler that throws leaves neither record nor effects; the redelivery runs it', () =>
      withInboxStore(async ({ store, effects }) => {
        let runs = 0;
        const work = async (transaction: unknown) => {
          runs++;
          await effects.record(transaction, 'm-1');
          if (runs === 1) throw new Error('downstream refused');
        };
        await expect(store.process('billing', 'm-1', work)).rejects.toThrow('downstream refused');
        expect(await effects.count()).toBe(0);
        expect(await store.process('billing', 'm-1', work)).toBe('processed');
        expect(await effects.count()).toBe(1);
        expect(runs).toBe(2);
      }));

    it('concurrent deliveries of one message (two connections) run the handler once', () =>
      withInboxStore(async ({ store, other, effects }) => {
        let runs = 0;
        const work = async (transaction: unknown) => {
          runs++;
          // Holds the first delivery open while the others arrive: the race window, widened.
          await sleep(30);
          await effects.record(transaction, 'm-1');
        };
        const outcomes = await Promise.all(
          [store, other, store, other, store].map((inbox) => inbox.process('g', 'm-1', work)),
        );
        expect(runs).toBe(1);
        expect(outcomes.filter((o) => o === 'processed')).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(4);
        expect(await effects.count()).toBe(1);
      }));

    it('when the first of two concurrent deliveries fails, the other runs the handler', () =>
      withInboxStore(async ({ store, other, effects }) => {
        let runs = 0;
        const work = async (transaction: unknown) => {
          const run = ++runs;
          await sleep(30);
          await effects.record(transaction, 'm-1');
          if (run === 1) throw new Error('first attempt failed');
        };
        // Whichever delivery gets in first fails; the one that waited must then run for real.
        const outcomes = await Promise.allSettled([
          store.process('g', 'm-1', work),
          other.process('g', 'm-1', work),
        ]);
        expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1);
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toEqual([
          { status: 'fulfilled', value: 'processed' },
        ]);
        expect(runs).toBe(2);
        expect(await effects.count()).toBe(1);
      }));

    it('withInbox hands the handler the message and the transaction its effects go through', () =>
      withInboxStore(async ({ store, effects }) => {
        const handled: string[] = [];
        const handler = withInbox(store, 'billing', async (message, transaction) => {
          handled.push(message.id);
          await effects.record(transaction, message.id);
        });
        const message = toMessage({ type: 'Charge', data: { amount: 5 } });
        const signal = new AbortController().signal;
        await handler(message, { attempt: 1, signal });
        await handler(message, { attempt: 2, signal });
        expect(handled).toEqual([message.id]);
        expect(await effects.count()).toBe(1);
      }));

    it('cleanup forgets records older than the cutoff, and only those', () =>
      withInboxStore(async ({ store }) => {
        const work = async () => {};
        await store.process('g', 'm-1', work);
        await store.process('g', 'm-2', work);
        expect(await store.cleanup(new Date(Date.now() - 60_000))).toBe(0);
        expect(await store.process('g', 'm-1', work)).toBe('duplicate');
        expect(await store.cleanup(new Date(Date.now() + 60_000))).toBe(2);
        expect(await store.process('g', 'm-1', work)).toBe('processed');
      }));
  });
}
