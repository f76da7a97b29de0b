import type { Consumer as JsConsumer, JsMsg } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import type { Delivery } from 'causeway';
// Internal: the pull loop's credit, driven by a consumer double that answers every pull at once
// from an endless stream, so only the credit limits what it hands out.
import { NatsPullLoop, UNCONFIRMED_PER_PREFETCH } from '../../src/adapters/nats/nats-pull-loop.js';

const PREFETCH = 8;

function endlessConsumer() {
  let sequence = 0;
  const pulls: number[] = [];
  const consumer = {
    fetch: (options: { max_messages: number; callback: (msg: JsMsg) => void }) => {
      pulls.push(options.max_messages);
      // Delivered after the pull was asked for, as the server's answer would be.
      const delivered = new Promise<void>((resolve) =>
        setImmediate(() => {
          for (let i = 0; i < options.max_messages; i++)
            options.callback(fakeMsg(++sequence) as unknown as JsMsg);
          resolve();
        }),
      );
      return Promise.resolve({ closed: () => delivered.then(() => null) });
    },
  };
  return { consumer: consumer as unknown as JsConsumer, pulls };
}

const fakeMsg = (sequence: number) => ({
  info: { deliveryCount: 1, streamSequence: sequence },
  headers: undefined,
  working: () => undefined,
});

/** Lets pulls and deliveries run until nothing moves any more. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function loopWith(consumer: JsConsumer, onDelivery: (msg: JsMsg) => void): NatsPullLoop {
  const loop: NatsPullLoop = new NatsPullLoop(
    consumer,
    {
      prefetch: PREFETCH,
      pullExpiresMs: 1_000,
      ackWaitMs: 30_000,
      maxDeliveries: 100,
      destination: 'd',
      group: 'g',
      onError: (error) => {
        throw error;
      },
    },
    (msg) => ({ msg, attempt: 1, release: () => Promise.resolve() }) as unknown as Delivery,
    (delivery) => onDelivery((delivery as unknown as { msg: JsMsg }).msg),
  );
  return loop;
}

describe('NatsPullLoop credit', () => {
  it('never hands out more than the prefetch of deliveries whose ack is not on the wire', async () => {
    const { consumer } = endlessConsumer();
    const held: JsMsg[] = [];
    const loop = loopWith(consumer, (msg) => held.push(msg));
    loop.start();
    await settle();
    expect(held).toHaveLength(PREFETCH);
    // Settling some (a retry, a dead letter, a confirmed ack) gives their credit back.
    for (const msg of held.splice(0, 3)) loop.settled(msg);
    await settle();
    expect(held).toHaveLength(PREFETCH);
    loop.close();
  });

  it('gives credit back once an ack is written, and stops pulling while too many wait for their confirmation', async () => {
    const { consumer } = endlessConsumer();
    const held: JsMsg[] = [];
    const written: JsMsg[] = [];
    const loop = loopWith(consumer, (msg) => held.push(msg));
    loop.start();
    // Every delivery is acked on the wire at once, and no confirmation ever comes back.
    for (let round = 0; round < 2 * UNCONFIRMED_PER_PREFETCH + 2; round++) {
      await settle();
      for (const msg of held.splice(0)) {
        loop.acked(msg);
        written.push(msg);
      }
    }
    const cap = PREFETCH * UNCONFIRMED_PER_PREFETCH;
    expect(written.length).toBeGreaterThanOrEqual(cap);
    expect(written.length).toBeLessThan(cap + PREFETCH);
    // Confirmations coming back let the pulls go on.
    for (const msg of written.splice(0)) loop.settled(msg);
    await settle();
    expect(held).toHaveLength(PREFETCH);
    loop.close();
  });
});
