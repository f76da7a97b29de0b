import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineSaga, SagaRuntime } from 'causeway';
import { openSqliteDatabase, SqliteSagaStore, type SqliteDatabase } from 'causeway/sqlite';
import { formatRate, ratio, scaled, type CaseResult, type Suite } from './harness.js';
import { demoCases } from './sagas/demo.js';

/**
 * `npm run bench -- sagas`: sagas completed per second and p99 latency on one SQLite file, a
 * 4-step saga whose steps each write a row to that file, run one at a time in one process.
 * The baseline is the same work by hand with the same persistence: a state row written before
 * the first step and after each step.
 */

const STEPS = ['reserve', 'charge', 'ship', 'notify'] as const;
const SAGAS = 2_000;

interface Side {
  run(id: string): Promise<void>;
  close(): Promise<void>;
}

function openFile(name: string): {
  db: SqliteDatabase;
  effect: (saga: string, step: string) => void;
} {
  const dir = process.env['BENCH_DATA_DIR'] ?? join(tmpdir(), 'causeway-bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `sagas-${name}-${process.pid}.db`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  const db = openSqliteDatabase(file);
  db.exec(
    'CREATE TABLE effects (saga_id TEXT NOT NULL, step TEXT NOT NULL, PRIMARY KEY (saga_id, step))',
  );
  const insert = db.prepare('INSERT INTO effects (saga_id, step) VALUES (?, ?)');
  return { db, effect: (saga, step) => void insert.run(saga, step) };
}

function causeway(): Side {
  const { db, effect } = openFile('causeway');
  const saga = defineSaga<Record<string, never>>({
    name: 'order',
    steps: STEPS.map((step) => ({ name: step, execute: (ctx) => effect(ctx.sagaId, step) })),
  });
  const runtime = new SagaRuntime({ store: new SqliteSagaStore(db), sagas: [saga] });
  return {
    async run(id) {
      const done = await runtime.run(saga, {}, { id });
      if (done.status !== 'completed') throw new Error(`saga ${id} ended ${done.status}`);
    },
    async close() {
      await runtime.stop();
      db.close();
    },
  };
}

/** The same steps and writes, no runtime: a state row (JSON) before the first step and after each. */
function handWritten(): Side {
  const { db, effect } = openFile('hand');
  db.exec(
    'CREATE TABLE state (id TEXT PRIMARY KEY, status TEXT NOT NULL, step INTEGER NOT NULL, data TEXT NOT NULL)',
  );
  const insert = db.prepare('INSERT INTO state (id, status, step, data) VALUES (?, ?, 0, ?)');
  const update = db.prepare('UPDATE state SET status = ?, step = ? WHERE id = ?');
  return {
    async run(id) {
      insert.run(id, 'running', '{}');
      for (const [n, step] of STEPS.entries()) {
        effect(id, step);
        update.run(n === STEPS.length - 1 ? 'completed' : 'running', n + 1, id);
        // The runtime awaits its store between steps; so does this loop.
        await Promise.resolve();
      }
    },
    async close() {
      db.close();
    },
  };
}

async function measure(
  side: Side,
  prefix: string,
  count: number,
): Promise<{ perSecond: number; p99Ms: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await side.run(`${prefix}-${i}`);
    latencies.push(performance.now() - t);
  }
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    perSecond: (count * 1000) / elapsed,
    p99Ms: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!,
  };
}

export const suite: Suite = {
  name: 'sagas',
  description:
    'sagas completed per second and p99 latency on one SQLite file (4 steps, each writing a row), Causeway vs the same steps and persistence by hand; then the demo saga on PostgreSQL + Kafka (4 processes) vs the same demo embedded',
  async run(context) {
    const { config } = context;
    const count = scaled(SAGAS, config, 10);
    const sides = { causeway: causeway(), hand: handWritten() };
    const rounds: Record<'causeway' | 'hand', { perSecond: number; p99Ms: number }[]> = {
      causeway: [],
      hand: [],
    };
    try {
      // Warm-up, untimed.
      for (const [name, side] of Object.entries(sides))
        await measure(side, `warm-${name}`, Math.ceil(count / 10));
      for (let round = 0; round < config.rounds; round++) {
        const order =
          round % 2 === 0 ? (['causeway', 'hand'] as const) : (['hand', 'causeway'] as const);
        for (const name of order) {
          const result = await measure(
            sides[name],
            `r${round}-${name}`,
            Math.ceil(count / config.rounds),
          );
          rounds[name].push(result);
          context.progress(
            `  round ${round + 1} ${name.padEnd(8)} ${formatRate(result.perSecond)} sagas/s, p99 ${result.p99Ms.toFixed(3)} ms`,
          );
        }
      }
    } finally {
      for (const side of Object.values(sides)) await side.close();
    }
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const rate = (name: 'causeway' | 'hand') => median(rounds[name].map((r) => r.perSecond));
    const p99 = (name: 'causeway' | 'hand') => median(rounds[name].map((r) => r.p99Ms));
    const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
    const baselineName =
      'hand-written: same 4 writes, state row before the first step and after each';
    const cases: CaseResult[] = [
      {
        name: 'SQLite · 4-step saga · completed per second (one at a time)',
        value: Math.round(rate('causeway')),
        unit: 'sagas/s',
        baseline: { name: baselineName, value: Math.round(rate('hand')) },
        ratioToBaseline: r3(ratio(rate('causeway'), rate('hand'))),
        emmett: null,
        rounds: {
          causeway: rounds.causeway.map((r) => Math.round(r.perSecond)),
          hand: rounds.hand.map((r) => Math.round(r.perSecond)),
        },
      },
      {
        name: 'SQLite · 4-step saga · p99 latency',
        value: r3(p99('causeway')),
        unit: 'ms',
        baseline: { name: baselineName, value: r3(p99('hand'))! },
        ratioToBaseline: r3(ratio(p99('causeway'), p99('hand'))),
        emmett: null,
        notes: ['for latency, a ratio above 1 means Causeway is slower'],
      },
    ];
    const demo = await demoCases(context);
    return {
      settings: {
        workload: `${count} sagas per side in ${config.rounds} rounds taken in turns (after a warm-up of ${Math.ceil(count / 10)}), one at a time, each its own id; rates and p99 are the median of the rounds`,
        persistence:
          'one SQLite file per side (WAL, the adapter defaults); each step inserts a row into that file with the same connection',
        causeway:
          'SagaRuntime.run on a SqliteSagaStore: the instance is written before the first step, at each attempt start and after each attempt, leased and fenced',
        ...demo.settings,
      },
      cases: [...cases, ...demo.cases],
      ...(demo.skipped.length > 0 ? { skipped: demo.skipped } : {}),
    };
  },
};
