import { once } from 'node:events';
import { createPostgresEventStore } from 'causeway/postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LineReader, runCli, startCli } from './run-cli.js';

/**
 * The CLI against a real PostgreSQL. It reads the default schema of the database in its
 * URL, so each run gets a database of its own instead of touching the shared one.
 */
const SERVER =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';
const NAME = `causeway_cli_${process.pid}_${Date.now()}`;

function urlFor(database: string): string {
  const url = new URL(SERVER);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const db = urlFor(NAME);

beforeAll(async () => {
  await withClient(urlFor('postgres'), (c) => c.query(`CREATE DATABASE "${NAME}"`));
});

afterAll(async () => {
  await withClient(urlFor('postgres'), (c) =>
    c.query(`DROP DATABASE IF EXISTS "${NAME}" WITH (FORCE)`),
  );
});

describe('causeway CLI on PostgreSQL', () => {
  it('says a database without Causeway tables is not a store, and creates nothing', async () => {
    const { code, stderr } = await runCli(['streams', 'list', '--db', db]);
    expect(code).toBe(1);
    expect(stderr).toContain(`no Causeway event store in ${new URL(SERVER).hostname}:`);
    const tables = await withClient(db, async (client) => {
      const result = await client.query(
        "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'",
      );
      return (result.rows[0] as { n: number }).n;
    });
    expect(tables).toBe(0);
  });

  it('lists, reads and follows', async () => {
    const store = await createPostgresEventStore({ connectionString: db });
    try {
      await store.appendToStream('order-1', [
        { type: 'OrderPlaced', data: { total: 12 } },
        { type: 'OrderPaid', data: {} },
      ]);

      const listed = await runCli(['streams', 'list', '--json', '--db', db]);
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toMatchObject({ streamId: 'order-1', version: 2 });

      const read = await runCli(['streams', 'read', 'order-1', '--db', db]);
      expect(read.code).toBe(0);
      expect(read.stdout).toMatch(/order-1@2 +OrderPaid/);

      const child = startCli(['events', 'tail', '--json', '--db', db]);
      const exited = once(child, 'close');
      const out = new LineReader(child.stdout, 'stdout');
      const err = new LineReader(child.stderr, 'stderr');
      try {
        await err.waitFor((line) => line.includes('following new events'));
        await store.appendToStream('order-1', [{ type: 'OrderShipped', data: { carrier: 'ups' } }]);
        const line = await out.waitFor((l) => l.includes('OrderShipped'));
        expect(JSON.parse(line)).toMatchObject({ streamId: 'order-1', streamVersion: 3 });
      } finally {
        child.kill('SIGINT');
      }
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      await store.close();
    }
  });
});
