import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createPostgresEventStore, createPostgresProjectionStore } from 'causeway/postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  counterProjection,
  counters,
  expectedCounts,
  runToHead,
  seedTicks,
} from './fixtures/counter-projection.js';
import { ROOT, runCli } from './run-cli.js';

/**
 * The projections commands against a real PostgreSQL, in a database of their own and a
 * non-default schema (so `--schema` is what makes them find the projections).
 */
const SERVER =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';
const NAME = `causeway_cli_proj_${process.pid}_${Date.now()}`;
const SCHEMA = 'app';
const FIXTURE = pathToFileURL(join(ROOT, 'test/cli/fixtures/counter-projection.ts')).href;

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
let dir: string;

const json = (text: string) =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'causeway-cli-pg-'));
  await withClient(urlFor('postgres'), (c) => c.query(`CREATE DATABASE "${NAME}"`));
  const store = await createPostgresEventStore({ connectionString: db, schema: SCHEMA });
  const projections = await createPostgresProjectionStore({ connectionString: db, schema: SCHEMA });
  try {
    await seedTicks(store, 500);
    await runToHead(store, projections, counterProjection(1));
    await seedTicks(store, 50, 500);
  } finally {
    await projections.close();
    await store.close();
  }
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await withClient(urlFor('postgres'), (c) =>
    c.query(`DROP DATABASE IF EXISTS "${NAME}" WITH (FORCE)`),
  );
});

describe('causeway projections on PostgreSQL', () => {
  it('lists and shows status from the state table, with lag', async () => {
    const listed = await runCli(['projections', 'list', '--json', '--db', db, '--schema', SCHEMA]);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(json(listed.stdout)).toMatchObject([
      { name: 'counter', version: 1, status: 'active', position: 500, head: 550, lag: 50 },
    ]);

    const elsewhere = await runCli(['projections', 'list', '--db', db]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('no Causeway event store in');
  });

  it('pauses and resumes', async () => {
    const args = ['--db', db, '--schema', SCHEMA];
    expect((await runCli(['projections', 'pause', 'counter', ...args])).code).toBe(0);
    const paused = await runCli(['projections', 'status', 'counter', '--json', ...args]);
    expect(json(paused.stdout)).toMatchObject([{ paused: true }]);
    expect((await runCli(['projections', 'resume', 'counter', ...args])).code).toBe(0);
    const resumed = await runCli(['projections', 'status', 'counter', '--json', ...args]);
    expect(json(resumed.stdout)).toMatchObject([{ paused: false }]);
  });

  it('rebuilds in place, then blue/green, from a config file', async () => {
    const config = join(dir, 'causeway.config.ts');
    writeFileSync(
      config,
      `import { counterProjection } from '${FIXTURE}';\nexport default [counterProjection(1)];\n`,
    );
    const args = ['--config', config, '--db', db, '--schema', SCHEMA, '--batch-size', '44'];
    const inPlace = await runCli(['projections', 'rebuild', 'counter', ...args]);
    expect(inPlace.code).toBe(0);
    expect(inPlace.stdout).toMatch(/^rebuilt counter v1 in place: 550 events in /);
    expect(inPlace.stderr).toMatch(/^counter v1: +10% \(55\/550, /m);
    expect(inPlace.stderr).toMatch(/^counter v1: 100% \(550\/550, /m);

    writeFileSync(
      config,
      `import { counterProjection } from '${FIXTURE}';\nexport default [counterProjection(2)];\n`,
    );
    const blueGreen = await runCli([
      'projections',
      'rebuild',
      'counter',
      '--blue-green',
      '--json',
      ...args,
    ]);
    expect(blueGreen.code).toBe(0);
    expect(json(blueGreen.stdout)).toMatchObject([
      { name: 'counter', version: 2, mode: 'blue-green', position: 550, previousVersion: 1 },
    ]);

    const store = await createPostgresEventStore({ connectionString: db, schema: SCHEMA });
    const projections = await createPostgresProjectionStore({
      connectionString: db,
      schema: SCHEMA,
    });
    try {
      const rows = await projections.reader().table(counters).find();
      expect(Object.fromEntries(rows.map((r) => [r.id, r.count]))).toEqual(
        await expectedCounts(store),
      );
      expect((await projections.list()).map((s) => [s.version, s.status])).toEqual([
        [1, 'retired'],
        [2, 'active'],
      ]);
    } finally {
      await projections.close();
      await store.close();
    }
  });
});
