import { describe, expect, it } from 'vitest';
import { dedupeWithin, MemoryInboxStore, toMessage, withInbox, type InboxStore } from 'causeway';
import { inboxContract } from '../contracts/inbox.contract.js';

/**
 * The reference store under the contract. It has no transaction of its own, so the harness
 * hands the work a buffer for its effects and applies it only when the work succeeds, as a
 * commit would.
 */
inboxContract({
  name: 'memory',
  async create() {
    const inner = new MemoryInboxStore();
    const committed: string[] = [];
    const store: InboxStore<string[]> = {
      process: (group, messageId, work) =>
        inner.process(group, messageId, async () => {
          const buffer: string[] = [];
          await work(buffer);
          committed.push(...buffer);
        }),
      cleanup: (olderThan) => inner.cleanup(olderThan),
    };
    return {
      store: store as InboxStore<unknown>,
      other: store as InboxStore<unknown>,
      effects: {
        record: async (transaction, messageId) => void (transaction as string[]).push(messageId),
        count: async () => committed.length,
      },
      async close() {},
    };
  },
  async cleanup() {},
});

describe('inbox', () => {
  it('runs each message once per group, also when redeliveries arrive concurrently', async () => {
    const inbox = new MemoryInboxStore();
    const ledger: string[] = [];
    const handler = withInbox(inbox, 'billing', async (message) => {
      await new Promise((resolve) => setImmediate(resolve));
      ledger.push(message.id);
    });
    const message = toMessage({ type: 'Charge', data: { amount: 5 } });
    const signal = new AbortController().signal;
    await Promise.all([
      handler(message, { attempt: 1, signal }),
      handler(message, { attempt: 2, signal }),
      handler(message, { attempt: 3, signal }),
    ]);
    await handler(message, { attempt: 4, signal });
    expect(ledger).toEqual([message.id]);
    // Another group has its own record.
    await withInbox(
      inbox,
      'audit',
      async (m) => void ledger.push(`audit:${m.id}`),
    )(message, { attempt: 1, signal });
    expect(ledger).toHaveLength(2);
  });

  it('records nothing when the work fails, so the redelivery runs it', async () => {
    const inbox = new MemoryInboxStore();
    let runs = 0;
    const work = async () => {
      runs++;
      if (runs === 1) throw new Error('db down');
    };
    await expect(inbox.process('g', 'm-1', work)).rejects.toThrow('db down');
    expect(await inbox.process('g', 'm-1', work)).toBe('processed');
    expect(await inbox.process('g', 'm-1', work)).toBe('duplicate');
    expect(runs).toBe(2);
    expect(await inbox.cleanup(new Date(Date.now() + 1_000))).toBe(1);
  });

  it('dedupeWithin skips an id seen inside the window', async () => {
    const handled: string[] = [];
    const handler = dedupeWithin(60_000, (m) => void handled.push(m.id));
    const message = toMessage({ type: 'T', data: 1 });
    const signal = new AbortController().signal;
    await handler(message, { attempt: 1, signal });
    await handler(message, { attempt: 2, signal });
    expect(handled).toEqual([message.id]);
  });
});
