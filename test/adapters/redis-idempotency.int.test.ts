import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { IdempotencyService, isStoreUnavailableError } from 'causeway';
import { RedisIdempotencyStore } from 'causeway/redis';
import { idempotencyContract } from '../contracts/idempotency.contract.js';
import { redisUrl } from './fixtures/redis-transport-harness.js';

const run = `cw-test-${randomBytes(4).toString('hex')}`;
let counter = 0;
const admin = createClient({ url: redisUrl });
admin.on('error', () => undefined);

/** Deletes every key of this file's runs (completed results without a ttl stay otherwise). */
async function deleteKeys(): Promise<string[]> {
  if (!admin.isOpen) await admin.connect();
  const keys: string[] = [];
  for await (const batch of admin.scanIterator({ MATCH: `${run}-*`, COUNT: 500 }))
    keys.push(...batch);
  if (keys.length > 0) await admin.del(keys);
  return keys;
}

// Each `create()` gets its own prefix: the contract reuses key names from test to test.
idempotencyContract({
  name: 'redis',
  async create() {
    const options = { url: redisUrl, prefix: `${run}-${++counter}` };
    const store = await RedisIdempotencyStore.connect(options);
    const other = await RedisIdempotencyStore.connect(options);
    return {
      store,
      other,
      close: async () => void (await Promise.all([store.close(), other.close()])),
    };
  },
  cleanup: async () => void (await deleteKeys()),
});

describe('Redis idempotency store', () => {
  afterAll(async () => {
    await deleteKeys();
    await admin.close();
  });

  it('keeps a lease and a result as the key’s Redis TTL', async () => {
    const prefix = `${run}-ttl`;
    const store = await RedisIdempotencyStore.connect({ url: redisUrl, prefix });
    try {
      if (!admin.isOpen) await admin.connect();
      const claim = await store.claim('order-1', 5_000);
      if (claim.status !== 'claimed') throw new Error(`expected a claim, got ${claim.status}`);
      const key = `${prefix}:idempotency:order-1`;
      const leaseTtl = await admin.pTTL(key);
      expect(leaseTtl).toBeGreaterThan(4_000);
      expect(leaseTtl).toBeLessThanOrEqual(5_000);
      expect(await store.complete('order-1', claim.token, '"ok"', undefined)).toBe(true);
      expect(await admin.pTTL(key)).toBe(-1);
      const service = new IdempotencyService(store);
      await service.process('order-2', async () => 'ok', { ttlMs: 60_000 });
      expect(await admin.pTTL(`${prefix}:idempotency:order-2`)).toBeGreaterThan(55_000);
    } finally {
      await store.close();
    }
  });

  it('fails fast with StoreUnavailableError when Redis cannot be reached', async () => {
    const failure = await RedisIdempotencyStore.connect({ url: 'redis://127.0.0.1:1' }).catch(
      (e: unknown) => e,
    );
    expect(isStoreUnavailableError(failure)).toBe(true);
  });
});
