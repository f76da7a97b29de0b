import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTransport } from 'causeway';
import { createPostgresTransportDriver } from 'causeway/postgres';
import { transportContract } from '../contracts/transport.contract.js';
import { sqlDeadLetterCases } from './fixtures/sql-dead-letter-cases.js';
import { sqlTransportCases } from './fixtures/sql-transport-cases.js';

const url =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';
const schemas: string[] = [];
let counter = 0;

transportContract({
  name: 'postgres',
  async create() {
    // A fresh schema per transport: its own queue tables, dropped in cleanup.
    const schema = `cw_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    const driver = await createPostgresTransportDriver({ connectionString: url, schema });
    const transport = createTransport(driver);
    return {
      transport,
      destination: () => `dest-${++counter}`,
      publishPoison: (destination, body) =>
        driver.publishRaw(destination, [{ headers: { 'content-type': 'application/json' }, body }]),
      deadLetters: async (destination) =>
        (await driver.deadLetters(destination)).map((l) => ({
          body: l.message.body,
          failure: l.failure,
        })),
      close: () => transport.close(),
    };
  },
  cleanup: dropSchemas,
});

// Each driver is another process (its own pool) on one shared schema.
const shared = `cw_test_${randomBytes(6).toString('hex')}`;
sqlTransportCases({
  name: 'postgres',
  open: (options) =>
    createPostgresTransportDriver({ connectionString: url, schema: shared, ...options }),
  destination: () => `dest-${++counter}`,
  // Only a NOTIFY can deliver within the test's bounds.
  crossProcessPollMs: 60_000,
});

sqlDeadLetterCases({
  name: 'postgres',
  open: () => createPostgresTransportDriver({ connectionString: url, schema: shared }),
  destination: () => `dest-${++counter}`,
});

describe('PostgreSQL transport: server connections lost mid-stream', () => {
  it('loses nothing when every connection of the transport is terminated', async () => {
    // Our own application name, so only this transport's sessions are cut, not other tests'.
    const app = `cw_restart_${randomBytes(4).toString('hex')}`;
    const driver = await createPostgresTransportDriver({
      connectionString: `${url}?application_name=${app}`,
      schema: shared,
      leaseMs: 1_000,
      pollIntervalMs: 100,
    });
    const transport = createTransport(driver);
    const admin = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const dest = `dest-${++counter}`;
      const seen = new Set<number>();
      let halfway!: () => void;
      const reachedHalfway = new Promise<void>((resolve) => (halfway = resolve));
      let all!: () => void;
      const complete = new Promise<void>((resolve) => (all = resolve));
      await transport.subscribe(
        dest,
        'survivors',
        async (m) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          seen.add((m.data as { n: number }).n);
          if (seen.size === 10) halfway();
          if (seen.size === 40) all();
        },
        // A settle that fails with the connection is redelivered after the lease: expected here.
        { concurrency: 4, onSettleError: () => undefined },
      );
      await transport.publish(
        dest,
        Array.from({ length: 40 }, (_, n) => ({ type: 'Job', data: { n } })),
      );
      await reachedHalfway;
      const { rows } = await admin.query<{ killed: boolean }>(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1`,
        [app],
      );
      expect(rows.length).toBeGreaterThan(0);
      await complete;
      expect(seen.size).toBe(40);
    } finally {
      await transport.close();
      await admin.end();
    }
  });
});

afterAll(async () => {
  schemas.push(shared);
  await dropSchemas();
});

async function dropSchemas(): Promise<void> {
  const admin = new pg.Pool({ connectionString: url });
  try {
    for (const schema of schemas.splice(0))
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
}
