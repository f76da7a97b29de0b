import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { expect, it } from 'vitest';
import { runRedisExample } from '../../examples/redis/main.js';
import { redisUrl } from '../adapters/fixtures/redis-transport-harness.js';

it('the Redis example charges once per payment, retries through Redis and dead-letters the poison', async () => {
  const prefix = `cw-test-example-${randomBytes(4).toString('hex')}`;
  const lines: string[] = [];
  await runRedisExample({ url: redisUrl, prefix }, (line) => lines.push(line));
  expect(lines).toEqual([
    'charged: o-1 → receipt-o-1, o-2 → receipt-o-2 (attempt 2)',
    'dead-lettered: permanent_error — invalid amount -5',
  ]);
  const admin = await createClient({ url: redisUrl }).connect();
  const keys: string[] = [];
  for await (const batch of admin.scanIterator({ MATCH: `${prefix}:*` })) keys.push(...batch);
  expect(keys.length).toBeGreaterThan(0);
  await admin.del(keys);
  await admin.close();
});
