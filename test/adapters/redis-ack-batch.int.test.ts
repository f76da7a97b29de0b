import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Internal: the consumer's ack batching, tested on its own with more acks in one turn than a
// test can make a consumer hold.
import { RedisAckBatch } from '../../src/adapters/redis/redis-ack-batch.js';
import { redisUrl } from './fixtures/redis-transport-harness.js';

const client = createClient({ url: redisUrl });
const prefix = `cw-test-acks-${randomBytes(4).toString('hex')}`;
let counter = 0;

beforeAll(async () => {
  await client.connect();
});
afterAll(async () => {
  for (const key of await client.keys(`${prefix}*`)) await client.del(key);
  client.destroy();
});

/** A stream with `count` entries, all read (pending) by one consumer of `group`. */
async function pendingEntries(count: number): Promise<{ stream: string; ids: string[] }> {
  const stream = `${prefix}:${++counter}`;
  await client.sendCommand(['XGROUP', 'CREATE', stream, 'g', '0', 'MKSTREAM']);
  const adds = client.multi();
  for (let i = 0; i < count; i++) adds.addCommand(['XADD', stream, '*', 'n', String(i)]);
  await adds.exec();
  const read = await client.sendCommand<[[string, [string, string[]][]]]>([
    'XREADGROUP',
    'GROUP',
    'g',
    'c',
    'COUNT',
    String(count),
    'STREAMS',
    stream,
    '>',
  ]);
  return { stream, ids: read[0][1].map(([id]) => id) };
}

describe('RedisAckBatch', () => {
  // A large prefetch finishes thousands of handlers in one turn. One script call with every id
  // failed past Lua's unpack limit (~8,000 values) with "too many results to unpack": the whole
  // batch's acks failed and every message came back.
  it('acks more entries in one turn than one Lua call can unpack', async () => {
    const { stream, ids } = await pendingEntries(10_000);
    expect(ids).toHaveLength(10_000);
    const acks = new RedisAckBatch(client, 'g');
    await Promise.all(ids.map((id) => acks.ack({ key: stream, id, fromRetryStream: false })));
    const [pending] = await client.sendCommand<[number]>(['XPENDING', stream, 'g']);
    expect(pending).toBe(0);
    expect(await client.xLen(stream)).toBe(10_000);
  });

  it('deletes the acked entries of a retry stream, however many', async () => {
    const { stream, ids } = await pendingEntries(9_000);
    const acks = new RedisAckBatch(client, 'g');
    await Promise.all(ids.map((id) => acks.ack({ key: stream, id, fromRetryStream: true })));
    expect(await client.xLen(stream)).toBe(0);
  });

  // The acks of one call share its promise: a call that fails must fail its own acks only,
  // never those carried by another call of the same turn.
  it('fails only the acks of the call that failed', async () => {
    const good = await pendingEntries(3);
    const notAStream = `${prefix}:${++counter}`;
    await client.set(notAStream, 'x');
    const acks = new RedisAckBatch(client, 'g');
    const outcomes = await Promise.allSettled([
      ...good.ids.map((id) => acks.ack({ key: good.stream, id, fromRetryStream: false })),
      acks.ack({ key: notAStream, id: '1-0', fromRetryStream: false }),
      acks.ack({ key: notAStream, id: '2-0', fromRetryStream: false }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
    ]);
    expect(String((outcomes[3] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    const [pending] = await client.sendCommand<[number]>(['XPENDING', good.stream, 'g']);
    expect(pending).toBe(0);
  });

  // The read loop frees a prefetch slot in `answered`: it must hear of every entry, on success
  // and on failure, before anyone awaiting the ack does.
  it('reports each entry answered before its ack settles, whatever the answer', async () => {
    const good = await pendingEntries(2);
    const notAStream = `${prefix}:${++counter}`;
    await client.set(notAStream, 'x');
    const answered = new Set<string>();
    const acks = new RedisAckBatch(client, 'g', (entry) => answered.add(entry.id));
    const seenAtSettle: boolean[] = [];
    const targets = [
      ...good.ids.map((id) => ({ key: good.stream, id, fromRetryStream: false })),
      { key: notAStream, id: '1-0', fromRetryStream: false },
    ];
    await Promise.allSettled(
      targets.map((target) =>
        acks.ack(target).finally(() => seenAtSettle.push(answered.has(target.id))),
      ),
    );
    expect(seenAtSettle).toEqual([true, true, true]);
    expect([...answered].sort()).toEqual([...good.ids, '1-0'].sort());
  });

  it('acks of later turns go out in calls of their own', async () => {
    const { stream, ids } = await pendingEntries(2);
    const acks = new RedisAckBatch(client, 'g');
    await acks.ack({ key: stream, id: ids[0]!, fromRetryStream: false });
    const [afterFirst] = await client.sendCommand<[number]>(['XPENDING', stream, 'g']);
    expect(afterFirst).toBe(1);
    await acks.ack({ key: stream, id: ids[1]!, fromRetryStream: false });
    const [afterSecond] = await client.sendCommand<[number]>(['XPENDING', stream, 'g']);
    expect(afterSecond).toBe(0);
  });
});
