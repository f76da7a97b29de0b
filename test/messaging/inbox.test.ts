import { describe, expect, it } from 'vitest';
import { dedupeWithin, MemoryInboxStore, toMessage, withInbox } from 'causeway';

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
