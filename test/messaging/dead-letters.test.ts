import { describe, expect, it } from 'vitest';
import {
  createTransport,
  DeadLetterManager,
  MemoryTransportDriver,
  PermanentError,
  type Message,
} from 'causeway';

async function setup() {
  const driver = new MemoryTransportDriver();
  const transport = createTransport(driver);
  let fixed = false;
  const handled: Message[] = [];
  let notify: (() => void) | undefined;
  const consumer = await transport.subscribe('payments', 'ledger', (m) => {
    if (!fixed) throw new PermanentError(`cannot book ${(m.data as { n: number }).n}`);
    handled.push(m);
    notify?.();
  });
  const waitHandled = (count: number) =>
    new Promise<void>((resolve) => {
      notify = () => handled.length >= count && resolve();
      notify();
    });
  const alerts: { destination: string; count: number }[] = [];
  const manager = new DeadLetterManager(driver.deadLetterStore, {
    threshold: 3,
    onThreshold: (a) => void alerts.push(a),
  });
  const letters = async (count: number) => {
    while ((await manager.count()) < count) await new Promise((r) => setTimeout(r, 5));
  };
  return {
    driver,
    transport,
    consumer,
    handled,
    waitHandled,
    manager,
    alerts,
    letters,
    fix: () => (fixed = true),
  };
}

describe('DeadLetterManager (on the memory transport)', () => {
  it('lists, filters, shows, retries one and all (paged, with progress), purges and alerts once', async () => {
    const t = await setup();
    const ids = await t.transport.publish(
      'payments',
      [1, 2, 3, 4].map((n) => ({ type: 'Booked', data: { n } })),
    );
    await t.letters(4);

    const all = await t.manager.list();
    expect(all.map((l) => l.messageId)).toEqual(ids);
    expect(await t.manager.count({ error: 'cannot book 3' })).toBe(1);
    expect(await t.manager.list({ destination: 'elsewhere' })).toEqual([]);
    const shown = await t.manager.show(all[0]!.id);
    expect(shown).toMatchObject({
      destination: 'payments',
      group: 'ledger',
      failure: { reason: 'permanent_error', errorClass: 'PermanentError' },
    });
    expect(JSON.parse(shown!.message.body)).toEqual({ n: 1 });

    await t.manager.checkThreshold('payments');
    await t.manager.checkThreshold('payments');
    expect(t.alerts).toEqual([{ destination: 'payments', count: 4, threshold: 3 }]);

    t.fix();
    expect(await t.manager.retry(all[0]!.id)).toBe(true);
    expect(await t.manager.retry(all[0]!.id)).toBe(false);
    await t.waitHandled(1);
    expect(t.handled[0]!.id).toBe(ids[0]); // the original id: an inbox downstream de-duplicates

    const progress: number[] = [];
    const retried = await t.manager.retryAll({ destination: 'payments' }, (p) =>
      progress.push(p.done),
    );
    expect(retried).toBe(3);
    expect(progress).toEqual([1, 2, 3]);
    await t.waitHandled(4);
    expect(t.handled.map((m) => (m.data as { n: number }).n).sort()).toEqual([1, 2, 3, 4]);
    expect(await t.manager.count()).toBe(0);

    await t.transport.publish('payments', [{ type: 'Booked', data: { n: 5 } }]);
    await t.waitHandled(5);
    expect(await t.manager.purge({ olderThan: new Date(Date.now() + 1000) })).toBe(0);
    await t.transport.close();
  });

  it('purges by age and destination', async () => {
    const t = await setup();
    await t.transport.publish('payments', [{ type: 'Booked', data: { n: 1 } }]);
    await t.letters(1);
    expect(await t.manager.purge({ destination: 'payments', olderThan: new Date(0) })).toBe(0);
    expect(
      await t.manager.purge({ destination: 'payments', olderThan: new Date(Date.now() + 1_000) }),
    ).toBe(1);
    expect(await t.manager.count()).toBe(0);
    await t.transport.close();
  });
});
