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

  it('an onSettleError that throws is reported as a warning, never an unhandled rejection', async () => {
    const { driver, hand, acks } = slowAckDriver();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('warning', onWarning);
    process.on('unhandledRejection', onRejection);
    try {
      const consumer = await Consumer.start(driver, 'd', 'g', () => undefined, {
        onSettleError: () => {
          throw new Error('callback broke');
        },
      });
      hand('a', 'k');
      await expect.poll(() => acks.length).toBe(1);
      acks[0]!.fail(new Error('broker gone'));
      await consumer.stop();
      await expect.poll(() => warnings.some((w) => w.includes('callback broke'))).toBe(true);
      // A turn for an unhandled rejection to be reported, had there been one.
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(rejections).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      process.off('unhandledRejection', onRejection);
    }
  });

  it('stop() does not wait out its drain timeout for an ack that returned no promise', async () => {
    let deliver: ((delivery: Delivery) => void) | undefined;
    let acked = 0;
    const driver: TransportDriver = {
      kind: 'sync-ack',
      publish: () => Promise.resolve(),
      consume: (_destination, _group, _options, onDelivery) => {
        deliver = onDelivery;
        return Promise.resolve({ stop: () => Promise.resolve() });
      },
      close: () => Promise.resolve(),
    };
    const consumer = await Consumer.start(driver, 'd', 'g', () => undefined, {
      drainTimeoutMs: 30_000,
    });
    deliver!({
      message: toMessage({ id: 'a', type: 'Step', data: {} }),
      decodeError: undefined,
      raw: { headers: {}, body: '{}' },
      attempt: 1,
      firstFailureAt: undefined,
      // Breaks the port's contract (a promise): the runtime must still count it settled.
      ack: (() => {
        acked++;
      }) as unknown as () => Promise<void>,
      retry: () => Promise.resolve(),
      deadLetter: () => Promise.resolve(),
      release: () => Promise.resolve(),
    });
    await expect.poll(() => acked).toBe(1);
    const started = performance.now();
    await consumer.stop();
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
