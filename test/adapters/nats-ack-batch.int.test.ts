import { randomBytes } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Internal: the batched ack confirmation, tested on its own against the server's consumer state.
import { NatsAckBatch } from '../../src/adapters/nats/nats-ack-batch.js';
import { natsServers } from './fixtures/nats-transport-harness.js';

const prefix = `cw_test_acks_${randomBytes(4).toString('hex')}`;
const streams: string[] = [];
let nc: NatsConnection;
let jsm: JetStreamManager;
let counter = 0;

beforeAll(async () => {
  nc = await connect({ servers: natsServers });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  for (const stream of streams) await jsm.streams.delete(stream);
  await nc.close();
});

/** A stream of `count` messages and a durable consumer; resolves with its name. */
async function streamWith(count: number): Promise<string> {
  const stream = `${prefix}_${++counter}`;
  streams.push(stream);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.m`] });
  await jsm.consumers.add(stream, {
    durable_name: 'g',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 60_000_000_000,
  });
  const js = jetstream(nc);
  await Promise.all(Array.from({ length: count }, (_, i) => js.publish(`${stream}.m`, `${i}`)));
  return stream;
}

/** Fetches `count` deliveries of the stream's consumer on `connection`, all left unacked. */
async function fetch(connection: NatsConnection, stream: string, count: number): Promise<JsMsg[]> {
  const consumer = await jetstream(connection).consumers.get(stream, 'g');
  const messages = await consumer.fetch({ max_messages: count, expires: 5_000 });
  const out: JsMsg[] = [];
  for await (const msg of messages) {
    out.push(msg);
    if (out.length === count) break;
  }
  return out;
}

const ackPending = async (stream: string) =>
  (await jsm.consumers.info(stream, 'g')).num_ack_pending;

describe('NatsAckBatch', () => {
  it('confirms a turn of acks with one answer that covers every one of them', async () => {
    const stream = await streamWith(300);
    const msgs = await fetch(nc, stream, 300);
    expect(await ackPending(stream)).toBe(300);
    // Each ack is reported written before the batch's confirmation is back.
    const written: JsMsg[] = [];
    const acks = new NatsAckBatch((msg) => written.push(msg));
    const asked: string[] = [];
    for (const msg of msgs) {
      // What goes on the wire: a plain ack for all but one, and one ack that asks for an answer.
      const { ack, ackAck } = msg;
      msg.ack = () => (asked.push('ack'), ack.call(msg));
      msg.ackAck = (opts) => (asked.push('ackAck'), ackAck.call(msg, opts));
    }
    const confirmed = Promise.all(msgs.map((msg) => acks.ack(msg)));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(written).toEqual(msgs);
    await confirmed;
    expect(asked.filter((a) => a === 'ackAck')).toHaveLength(1);
    expect(asked.at(-1)).toBe('ackAck');
    // Resolved only once the server applied them all: none is pending any more.
    expect(await ackPending(stream)).toBe(0);
  });

  it('sends the acks of later turns as further batches', async () => {
    const stream = await streamWith(20);
    const msgs = await fetch(nc, stream, 20);
    const acks = new NatsAckBatch();
    await Promise.all(msgs.slice(0, 10).map((msg) => acks.ack(msg)));
    expect(await ackPending(stream)).toBe(10);
    await Promise.all(msgs.slice(10).map((msg) => acks.ack(msg)));
    expect(await ackPending(stream)).toBe(0);
  });

  it('reports every ack of a batch as failed when its confirmation does not come', async () => {
    const stream = await streamWith(50);
    const other = await connect({ servers: natsServers });
    const msgs = await fetch(other, stream, 50);
    const acks = new NatsAckBatch();
    const outcomes = Promise.allSettled(msgs.map((msg) => acks.ack(msg)));
    // The connection goes away with the confirmation outstanding: whether or not the server saw
    // the acks, none of them may count as settled.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await other.close();
    const settled = await outcomes;
    expect(settled.map((s) => s.status)).toEqual(msgs.map(() => 'rejected'));
    const reason = (settled[0] as PromiseRejectedResult).reason as Error;
    expect(reason.message).toMatch(
      /did not confirm the acks of messages 1, 2, 3, 4, 5 and 45 more/,
    );
  });

  it('reports a batch whose last ack the server will not answer (already settled) as failed', async () => {
    const stream = await streamWith(3);
    const msgs = await fetch(nc, stream, 3);
    msgs[2]!.ack(); // settled elsewhere: its ackAck is never sent
    const acks = new NatsAckBatch();
    const settled = await Promise.allSettled(msgs.map((msg) => acks.ack(msg)));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
  });

  it('drain() waits for the confirmations still outstanding', async () => {
    const stream = await streamWith(100);
    const msgs = await fetch(nc, stream, 100);
    const acks = new NatsAckBatch();
    let confirmed = 0;
    for (const msg of msgs) void acks.ack(msg).then(() => confirmed++);
    await acks.drain();
    expect(confirmed).toBe(100);
    expect(await ackPending(stream)).toBe(0);
  });
});
