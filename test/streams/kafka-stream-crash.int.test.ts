import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { createTransport } from 'causeway';
import { KafkaTransportDriver } from 'causeway/kafka';
import { createPostgresStateRepository } from 'causeway/postgres';
import { openSqliteDatabase } from 'causeway/sqlite';
import pg from 'pg';
import { eventually } from 'causeway/testing';
import {
  deleteDestinations,
  freshPrefix,
  kafkaSettings,
} from '../adapters/fixtures/kafka-transport-harness.js';
import { spawnFixture } from '../adapters/fixtures/spawn-runner.js';

const prefix = freshPrefix();
const dir = mkdtempSync(join(tmpdir(), 'cw-streams-crash-'));
const cleanups: (() => Promise<void>)[] = [];
const url =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';
const destinations: string[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await deleteDestinations(prefix, destinations);
  rmSync(dir, { recursive: true, force: true });
});

interface CountsTable {
  /** The fixture's `state` argument. */
  state: string;
  rows(): Promise<Map<string, number>>;
}

async function sqliteCounts(): Promise<CountsTable> {
  const file = join(dir, 'state.db');
  const db = openSqliteDatabase(file);
  cleanups.push(async () => void db.close());
  db.exec('CREATE TABLE clicks (player TEXT PRIMARY KEY, n INTEGER NOT NULL)');
  const select = db.prepare('SELECT player, n FROM clicks');
  return {
    state: file,
    rows: async () =>
      new Map((select.all() as { player: string; n: number }[]).map((row) => [row.player, row.n])),
  };
}

async function postgresCounts(): Promise<CountsTable> {
  const schema = `cw_streams_crash_${prefix.slice(-8)}`;
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  cleanups.push(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });
  await (await createPostgresStateRepository({ pool, schema })).close();
  await pool.query(`CREATE TABLE "${schema}".clicks (player TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
  return {
    state: `postgres:${schema}`,
    rows: async () =>
      new Map(
        (
          await pool.query<{ player: string; n: number }>(
            `SELECT player, n FROM "${schema}".clicks`,
          )
        ).rows.map((row) => [row.player, row.n]),
      ),
  };
}

it.each([
  ['SQLite', sqliteCounts],
  ['PostgreSQL', postgresCounts],
])(
  'processes killed with -9 at any point while two share the partitions: the counts equal a clean run (%s state)',
  async (_name, open) => {
    const counts = await open();
    const topic = `presses-${destinations.length + 1}`;
    destinations.push(topic);
    let table = new Map<string, number>();
    let countedNow = 0;
    // Read before each check: conditions are synchronous, the PostgreSQL table is not.
    const refresh = async () => {
      table = await counts.rows();
      countedNow = [...table.values()].reduce((sum, n) => sum + n, 0);
    };

    const driver = await KafkaTransportDriver.connect(kafkaSettings(prefix));
    const transport = createTransport(driver);
    cleanups.push(() => transport.close());
    await driver.publishRaw(topic, []); // creates the topic before anyone joins its group
    const published = new Map<string, number>();
    let sent = 0;
    const wave = async () => {
      const messages = Array.from({ length: 20 }, () => {
        const user = `u${sent++ % 30}`;
        published.set(user, (published.get(user) ?? 0) + 1);
        return { type: 'Clicked', data: {}, partitionkey: user };
      });
      await transport.publish(topic, messages);
    };

    const script = fileURLToPath(new URL('./fixtures/kafka-stream-process.ts', import.meta.url));
    const group = `${prefix}.${topic}`;
    const owned = new Map<string, number[]>();
    let spawned = 0;
    const start = () => {
      const name = `p${++spawned}`;
      const child = spawnFixture(script, [prefix, topic, group, counts.state]);
      cleanups.push(async () => {
        child.kill('SIGKILL');
        await child.exited;
      });
      child.lines.on('line', (line) => {
        const parsed = JSON.parse(line) as { partitions?: number[] };
        if (parsed.partitions) owned.set(name, parsed.partitions);
      });
      return Object.assign(child, { label: name });
    };
    const wait = (condition: () => boolean, what: string) =>
      eventually(condition, { timeoutMs: 45_000, what });
    const owns = (child: { label: string }) => (owned.get(child.label)?.length ?? 0) > 0;

    const processes = [start()];
    await wait(() => owned.get('p1')?.length === 3, 'the first process owns every partition');
    processes.push(start());
    await wait(() => processes.every(owns), 'two processes share the partitions');

    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) await wave();
      // Mid-stream: part of what was published is counted, the rest is still being processed.
      const half = sent / 2;
      await eventually(
        async () => {
          await refresh();
          return countedNow >= half;
        },
        { timeoutMs: 45_000, what: `round ${round}: half of the clicks counted` },
      );
      const victim = processes.splice(round % 2, 1)[0]!;
      victim.kill('SIGKILL');
      await victim.exited;
      for (let i = 0; i < 3; i++) await wave();
      const replacement = start();
      processes.splice(round % 2, 0, replacement);
      await wait(() => owns(replacement), `round ${round}: the restarted process owns partitions`);
    }
    await wave();

    await eventually(
      async () => {
        await refresh();
        return countedNow === sent;
      },
      { timeoutMs: 45_000, what: 'every click counted' },
    );
    // Exactly a clean run's counts: nothing counted twice across the kills, nothing lost.
    expect(table).toEqual(published);
  },
  240_000,
);
