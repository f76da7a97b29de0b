/**
 * Partitioned stream processing under kill -9, with the event store as the source and the
 * state, positions and read-model tables in SQLite or PostgreSQL. Worker processes share 8
 * hash partitions through leases; the test appends ledger events while it SIGKILLs workers
 * at seeded random moments and starts new ones, and a second test lets a worker join one
 * that holds every partition. Each time the tables must equal a clean, single-process,
 * crash-free run over the same events. CAUSEWAY_CRASH_SEED=<n> replays a schedule.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DurableStateBackend, MemoryStateRepository, type RecordedEvent } from 'causeway';
import { spawnFixture } from '../adapters/fixtures/spawn-runner.js';
import {
  ledgerAppends,
  ledgerTables,
  ledgerTask,
  lastPositions,
  openLedger,
  PARTITIONS,
  postgresUrl,
  seeded,
  tablePrefix,
  WORK,
  type Ledger,
  type Location,
} from './fixtures/ledger.js';

const seed = Number(process.env['CAUSEWAY_CRASH_SEED'] ?? randomInt(2 ** 31));
const KILLS = 6;
const EVENTS = 2_000;
const ACCOUNTS = 40;
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

function freshLocation(kind: 'sqlite' | 'postgres'): Location {
  const id = randomBytes(6).toString('hex');
  if (kind === 'sqlite') {
    const file = join(tmpdir(), `causeway-partitions-${id}.db`);
    cleanups.push(() => {
      for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
      return Promise.resolve();
    });
    return { kind, file };
  }
  const schema = `cw_partitions_${id}`;
  cleanups.push(async () => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });
  return { kind, schema };
}

/** A worker process; `ready` once it joined, `owned` its latest share, `everOwned` all it held. */
function startWorker(location: Location) {
  const child = spawnFixture(
    fileURLToPath(new URL('./fixtures/partition-worker.ts', import.meta.url)),
    location.kind === 'sqlite' ? ['sqlite', location.file] : ['postgres', location.schema],
  );
  let owned: number[] = [];
  const everOwned = new Set<number>();
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.lines.on('line', (text) => {
    const line = JSON.parse(text) as { ready?: boolean; owned?: number[] };
    if (line.ready) markReady();
    if (line.owned) {
      owned = line.owned;
      for (const partition of owned) everOwned.add(partition);
    }
  });
  const early = child.exited.then(() => {
    throw new Error(`worker exited before it was ready: ${child.stderr()}`);
  });
  early.catch(() => undefined);
  return Object.assign(child, {
    ready: Promise.race([ready, early]),
    owned: () => owned,
    everOwned,
  });
}
type Worker = ReturnType<typeof startWorker>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sorts rows by their JSON, so both sides compare whatever the database's collation. */
const sorted = (rows: readonly unknown[]) =>
  rows.map((row) => JSON.stringify(row)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

async function normalised(ledger: Ledger) {
  const rows = await ledger.rows();
  return { windows: sorted(rows.windows), counts: sorted(rows.counts), late: sorted(rows.late) };
}

/** The same topology, partition by partition, in this process, in memory, without a crash. */
async function cleanRun(ledger: Ledger, location: Location) {
  const repository = new MemoryStateRepository({ tables: ledgerTables(tablePrefix(location)) });
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const backend = await DurableStateBackend.open({ repository, scope: `${WORK}/p/${partition}` });
    await ledgerTask(ledger.store, partition, backend!).runToEnd();
  }
  const table = (name: string) => [
    ...(repository.tables.get(`${tablePrefix(location)}${name}`)?.values() ?? []),
  ];
  return {
    windows: sorted(table('windows')),
    counts: sorted(table('counts')),
    late: sorted(table('late')),
  };
}

/** Waits until every partition committed the last event of its keys (state lives in another process: polled). */
async function caughtUp(ledger: Ledger, expected: Map<string, string>): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const positions = await ledger.positions();
    const behind = [...expected].filter(([scope, position]) => positions.get(scope) !== position);
    if (behind.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`not caught up: ${behind.length} partitions behind (seed ${seed})`);
    await sleep(50);
  }
}

async function appendAll(ledger: Ledger, random: () => number): Promise<void> {
  const appends = ledgerAppends(random, EVENTS, ACCOUNTS);
  for (let i = 0; i < appends.length; i++) {
    const { stream, events } = appends[i]!;
    await ledger.store.appendToStream(stream, events);
    // Spread the appends over a few seconds, so kills land while there is work in flight.
    if (i % 25 === 0) await sleep(5 + random() * 40);
  }
}

async function readEverything(ledger: Ledger): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  for await (const event of ledger.store.readAll()) events.push(event);
  return events;
}

async function stopAll(workers: Iterable<Worker>): Promise<void> {
  const all = [...workers];
  for (const worker of all) worker.kill('SIGTERM');
  await Promise.all(all.map((worker) => worker.exited));
}

describe.each(['sqlite', 'postgres'] as const)('partitioned streams on %s state', (kind) => {
  it(
    `${KILLS} seeded SIGKILLs of two workers while events arrive: the tables equal a clean run's`,
    { timeout: 240_000 },
    async () => {
      console.info(`partition crash test (${kind}): seed ${seed} (CAUSEWAY_CRASH_SEED replays it)`);
      const location = freshLocation(kind);
      const ledger = await openLedger(location, true);
      const random = seeded(seed);
      const workers: Worker[] = [startWorker(location), startWorker(location)];
      try {
        await Promise.all(workers.map((worker) => worker.ready));
        const appending = appendAll(ledger, random);
        let kills = 0;
        for (let k = 0; k < KILLS; k++) {
          await sleep(200 + random() * 900);
          const index = Math.floor(random() * workers.length);
          const victim = workers[index]!;
          victim.kill('SIGKILL');
          await victim.exited;
          kills++;
          workers[index] = startWorker(location);
          await workers[index].ready;
        }
        await appending;
        const events = await readEverything(ledger);
        await caughtUp(ledger, lastPositions(events));
        const actual = await normalised(ledger);
        const expected = await cleanRun(ledger, location);
        console.info(
          `seed ${seed} (${kind}): ${events.length} events, ${kills} kills, ` +
            `${expected.windows.length} window rows, ${expected.late.length} late events, ` +
            `${expected.counts.length} accounts`,
        );
        expect(expected.late.length).toBeGreaterThan(0);
        expect(actual, `seed ${seed}`).toEqual(expected);
      } finally {
        await stopAll(workers);
        await ledger.close();
      }
    },
  );

  it(
    'a second worker joining one that holds every partition takes half; the tables equal a clean run',
    { timeout: 180_000 },
    async () => {
      const location = freshLocation(kind);
      const ledger = await openLedger(location, true);
      const random = seeded(seed + 1);
      const first = startWorker(location);
      const workers = [first];
      try {
        await first.ready;
        const appending = appendAll(ledger, random);
        await sleep(500);
        expect(first.owned()).toHaveLength(PARTITIONS);
        const second = startWorker(location);
        workers.push(second);
        await second.ready;
        await appending;
        const events = await readEverything(ledger);
        await caughtUp(ledger, lastPositions(events));
        expect(await normalised(ledger)).toEqual(await cleanRun(ledger, location));
        // Both did part of the work: the partitions were split, none held twice.
        await sleep(600);
        expect(second.everOwned.size).toBeGreaterThan(0);
        expect(first.owned().length + second.owned().length).toBe(PARTITIONS);
        expect(first.owned().filter((p) => second.owned().includes(p))).toEqual([]);
        console.info(
          `(${kind}) shared: first holds ${JSON.stringify(first.owned())}, second ${JSON.stringify(second.owned())}`,
        );
      } finally {
        await stopAll(workers);
        await ledger.close();
      }
    },
  );
});
