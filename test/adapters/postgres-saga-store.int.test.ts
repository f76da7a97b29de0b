import { afterAll, describe, expect, it } from 'vitest';
import { SagaLeaseLostError } from 'causeway';
import { createPostgresSagaStore } from 'causeway/postgres';
import { sagaStoreContract } from '../contracts/saga-store.contract.js';
import { postgresSchemas, postgresUrl } from './fixtures/postgres-messaging-harness.js';
import { postgresSagaHarness } from './fixtures/postgres-saga-harness.js';
import { leftBehind } from '../sagas/fixtures.js';

sagaStoreContract(postgresSagaHarness());

describe('PostgresSagaStore on the database clock', () => {
  const schemas = postgresSchemas();
  afterAll(() => schemas.drop());

  it('times leases by clock_timestamp(): a lease ends after its ttl, then the holder is fenced', async () => {
    const options = { connectionString: postgresUrl, schema: schemas.next() };
    const [a, b] = await Promise.all([
      createPostgresSagaStore(options),
      createPostgresSagaStore(options),
    ]);
    try {
      await leftBehind(
        a,
        new Date(),
        { id: 'order-1', name: 'checkout', currentStep: 'reserve' },
        'runtime-a',
        300,
      );
      const created = (await a.get('order-1'))!;
      // The expiry is the database's now + ttl, whatever this process's clock says.
      const ttl = created.leaseExpiresAt!.getTime() - Date.now();
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300 + 1_000);
      expect(await b.acquireLease('order-1', 'runtime-b', 300)).toBeUndefined();
      expect(await b.claim(['checkout'], 'runtime-b', 300, 10)).toEqual([]);

      // Waiting for time itself: only the lease's end lets runtime-b in.
      await new Promise((resolve) => setTimeout(resolve, 400));
      const claimed = await b.claim(['checkout'], 'runtime-b', 10_000, 10);
      expect(claimed.map((i) => i.leaseOwner)).toEqual(['runtime-b']);
      await expect(a.save(created, 'runtime-a', 300)).rejects.toBeInstanceOf(SagaLeaseLostError);
      expect(await a.renewLease('order-1', 'runtime-a', 300)).toBeUndefined();
      expect(await b.save(claimed[0]!, 'runtime-b', 10_000)).toMatchObject({ version: 2 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
