import { Consumer, toMessage, type Delivery, type TransportDriver } from 'causeway';
import { describe, expect, it } from 'vitest';

/**
 * The runtime against a driver whose acks are confirmed only when the test says so, as a broker
 * that answers each ack (JetStream's ack-ack, a Redis `XACK` reply) would: what a handler slot
 * and a key lane wait for, and what `stop()` waits for.
 */
function slowAckDriver() {
  const acks: { id: string; confirm: () => void; fail: (error: Error) => void }[] = [];
  let deliver: ((delivery: Delivery) => void) | undefined;
  const driver: TransportDriver = {
    kind: 'slow-ack',
    publish: () => Promise.resolve(),
    consume: (_destination, _group, _options, onDelivery) => {
      deliver = onDelivery;
      return Promise.resolve({ stop: () => Promise.resolve() });
    },
    close: () => Promise.resolve(),
  };
  const hand = (id: string, partitionkey: string) => {
    const message = toMessage({ id, type: 'Step', data: {}, partitionkey });
    deliver!({
      message,
      decodeError: undefined,
      raw: { headers: {}, body: '{}' },
      attempt: 1,
      firstFailureAt: undefined,
      ack: () =>
        new Promise<void>((confirm, fail) => acks.push({ id, confirm: () => confirm(), fail })),
      retry: () => Promise.resolve(),
      deadLetter: () => Promise.resolve(),
      release: () => Promise.resolve(),
    });
  };
  return { driver, hand, acks };
}

describe('Consumer acks', () => {
  it('starts the next message of a key once the handler returned, before the ack is confirmed', async () => {
    const { driver, hand, acks } = slowAckDriver();
    const handled: string[] = [];
    let second!: () => void;
    const secondRan = new Promise<void>((resolve) => (second = resolve));
    const consumer = await Consumer.start(
      driver,
      'd',
      'g',
      (m) => {
        handled.push(m.id);
        if (m.id === 'b') second();
      },
      { concurrency: 1, prefetch: 2 },
    );
    hand('a', 'k');
    hand('b', 'k');
    // 'b' ran while the ack of 'a' was still unconfirmed (the test confirms nothing before).
    await secondRan;
    expect(handled).toEqual(['a', 'b']);
    await expect.poll(() => acks.map((a) => a.id)).toEqual(['a', 'b']);
    for (const ack of acks) ack.confirm();
    await consumer.stop();
  });

  it('stop() waits for acks in flight; a failed ack is reported, not thrown', async () => {
    const { driver, hand, acks } = slowAckDriver();
    const settleErrors: string[] = [];
    const consumer = await Consumer.start(driver, 'd', 'g', () => undefined, {
      onSettleError: (error) => settleErrors.push((error as Error).message),
    });
    hand('a', 'k1');
    hand('b', 'k2');
    await expect.poll(() => acks.length).toBe(2);
    let stopped = false;
    const stopping = consumer.stop().then(() => (stopped = true));
    acks[0]!.confirm();
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    acks[1]!.fail(new Error('broker gone'));
    await stopping;
    expect(settleErrors).toEqual(['broker gone']);
  });
});
