import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  formatRate,
  ratio,
  scaled,
  type CaseResult,
  type Suite,
  type SuiteContext,
} from './harness.js';
import { CONTESTANTS, JOBS, type Contestant, type JobName } from './streams/jobs.js';
import type { MemoryProbe } from './streams/memory-probe.js';
import { COMMIT_EVERY } from './streams/causeway.js';
import { sqliteStateDir } from './streams/durable.js';
import type { Outcome } from './streams/workload.js';

/**
 * `npm run bench -- streams`: records per second through a tumbling-window aggregation and a
 * windowed stream–stream join, Causeway's topology against a hand-written loop doing the same
 * job on the same pre-generated input in the same process, plus each one's peak memory (one
 * child process per contestant).
 */

const RECORDS = 1_000_000;

// A collection before each pass, so one contestant's garbage is not collected on the other's time.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const LABELS: Record<Contestant, string> = {
  hand: 'hand-written loop',
  causeway: 'Causeway, in-memory state',
};

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return a.outputs === b.outputs && a.checksum === b.checksum && a.late === b.late;
}

function probeMemory(job: JobName, contestant: Contestant, records: number): MemoryProbe {
  const script = fileURLToPath(new URL('./streams/memory-probe.ts', import.meta.url));
  const out = execFileSync(
    process.execPath,
    [...process.execArgv, '--expose-gc', script, job, contestant, String(records)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').at(-1) as string) as MemoryProbe;
}

async function measureJob(
  job: JobName,
  records: number,
  context: SuiteContext,
): Promise<CaseResult[]> {
  const { config } = context;
  const spec = JOBS[job];
  context.progress(`${spec.title}: generating ${records} records`);
  const prepared = spec.prepare(records);
  context.progress(`  ${prepared.describe}`);

  // Warm-up: one untimed pass each; every pass must agree with the hand loop's results.
  const expected = prepared.contestants.hand();
  for (const contestant of CONTESTANTS) {
    const outcome = prepared.contestants[contestant]();
    if (!sameOutcome(outcome, expected)) {
      throw new Error(
        `${job}: ${contestant} disagrees with the hand loop: ${JSON.stringify(outcome)} vs ${JSON.stringify(expected)}`,
      );
    }
  }
  context.progress(`  results agree: ${JSON.stringify(expected)}`);

  const rates: Record<Contestant, number[]> = { hand: [], causeway: [] };
  const cpuMs: Record<Contestant, number> = { hand: 0, causeway: 0 };
  const wallMs: Record<Contestant, number> = { hand: 0, causeway: 0 };
  for (let round = 0; round < config.rounds; round++) {
    // Alternate who goes first, so a slow spell of the machine is shared.
    const order = round % 2 === 0 ? CONTESTANTS : [...CONTESTANTS].reverse();
    for (const contestant of order) {
      collectGarbage();
      const cpu = process.cpuUsage();
      const started = performance.now();
      prepared.contestants[contestant]();
      wallMs[contestant] += performance.now() - started;
      const used = process.cpuUsage(cpu);
      const ms = (used.user + used.system) / 1000;
      cpuMs[contestant] += ms;
      rates[contestant].push(Math.round((records * 1000) / ms));
    }
  }
  const total = records * config.rounds * 1000;
  const rateOf = (contestant: Contestant) => total / cpuMs[contestant];
  const wallRateOf = (contestant: Contestant) => total / wallMs[contestant];
  for (const contestant of CONTESTANTS) {
    context.progress(
      `  ${contestant.padEnd(9)} ${formatRate(rateOf(contestant))} records/s of CPU time (wall clock: ${formatRate(wallRateOf(contestant))})   rounds: ${rates[contestant].map(formatRate).join(' / ')}`,
    );
  }

  context.progress(`  peak memory: one pass per contestant in a child process`);
  const memory = Object.fromEntries(
    CONTESTANTS.map((contestant) => [contestant, probeMemory(job, contestant, records)]),
  ) as Record<Contestant, MemoryProbe>;
  for (const contestant of CONTESTANTS) {
    context.progress(`  ${contestant.padEnd(9)} ${JSON.stringify(memory[contestant])}`);
  }

  // Durable state: the same topology over SQLite, in turns with the in-memory runtime; by the
  // wall clock, since waiting for the disk (fsync) is the cost being measured.
  context.progress(`  SQLite state: ${config.rounds} rounds, in turns with in-memory state`);
  const durableWall = { memory: 0, sqlite: 0 };
  const durableRounds: Record<'memory' | 'sqlite', number[]> = { memory: [], sqlite: [] };
  let durableFailure: string | undefined;
  try {
    for (let round = 0; round < config.rounds; round++) {
      collectGarbage();
      let started = performance.now();
      prepared.contestants.causeway();
      let ms = performance.now() - started;
      durableWall.memory += ms;
      durableRounds.memory.push(Math.round((records * 1000) / ms));
      collectGarbage();
      started = performance.now();
      const outcome = await prepared.durable();
      ms = performance.now() - started;
      if (!sameOutcome(outcome, expected)) {
        throw new Error(`SQLite state disagrees: ${JSON.stringify(outcome)}`);
      }
      durableWall.sqlite += ms;
      durableRounds.sqlite.push(Math.round((records * 1000) / ms));
    }
  } catch (error) {
    durableFailure = error instanceof Error ? error.message : String(error);
    context.progress(`  SQLite state failed: ${durableFailure}`);
  }
  const memoryWallRate = total / durableWall.memory;
  const sqliteWallRate = durableFailure === undefined ? total / durableWall.sqlite : null;
  context.progress(
    `  in-memory ${formatRate(memoryWallRate)} records/s, SQLite ${formatRate(sqliteWallRate)} records/s (wall clock)`,
  );

  const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
  const k = `${(records / 1000).toLocaleString('en-US')}k records`;
  const throughput: CaseResult = {
    name: `${spec.title} · in-memory state · ${k}`,
    value: Math.round(rateOf('causeway')),
    unit: 'records/s',
    baseline: { name: LABELS.hand, value: Math.round(rateOf('hand')) },
    ratioToBaseline: r3(ratio(rateOf('causeway'), rateOf('hand'))),
    emmett: null,
    rounds: rates,
    notes: [
      `input: ${prepared.describe}; results (both sides): ${JSON.stringify(expected)}`,
      `by wall clock: hand ${formatRate(wallRateOf('hand'))}, causeway ${formatRate(wallRateOf('causeway'))} records/s (ratio ${(wallRateOf('causeway') / wallRateOf('hand')).toFixed(2)})`,
    ],
  };
  const heap: CaseResult = {
    name: `${spec.title} · peak heap above the input · ${k}`,
    value: memory.causeway.peakHeapAboveInputMiB,
    unit: 'MiB',
    baseline: { name: LABELS.hand, value: memory.hand.peakHeapAboveInputMiB },
    ratioToBaseline: r3(
      ratio(memory.causeway.peakHeapAboveInputMiB, memory.hand.peakHeapAboveInputMiB),
    ),
    emmett: null,
    notes: CONTESTANTS.map(
      (contestant) =>
        `${contestant}: RSS ${memory[contestant].inputRssMiB} MiB with the input, ${memory[contestant].peakRssMiB} MiB peak during the pass, maxRSS ${memory[contestant].maxRssMiB} MiB`,
    ),
  };
  const durable: CaseResult = {
    name: `${spec.title} · SQLite state vs in-memory state · ${k}`,
    value: sqliteWallRate === null ? null : Math.round(sqliteWallRate),
    unit: 'records/s',
    baseline: { name: 'Causeway, in-memory state (wall clock)', value: Math.round(memoryWallRate) },
    ratioToBaseline: r3(ratio(sqliteWallRate, memoryWallRate)),
    emmett: null,
    rounds: durableRounds,
    notes: [
      durableFailure === undefined
        ? `SQLite: DurableStateBackend + SqliteStateRepository, a fresh file per pass in ${sqliteStateDir()}, one transaction per ${COMMIT_EVERY} records (state, positions, outputs as outbox rows); by the wall clock`
        : `SQLite state failed: ${durableFailure}`,
    ],
  };
  return [throughput, heap, durable];
}

export const suite: Suite = {
  name: 'streams',
  description:
    'stream processing: a tumbling-window aggregation and a windowed join, Causeway topologies vs hand-written loops on the same input',
  async run(context) {
    const { config } = context;
    const records = scaled(RECORDS, config, 1_000);
    const settings: Record<string, string> = {
      input: `${records} records per job, generated once before timing (deterministic seed); both contestants read the same StreamRecord objects`,
      causeway: `a StreamRuntime per pass, runtime.process per record, commit every ${COMMIT_EVERY} records to a memory backend that tallies the outputs (ids derived as in production)`,
      timing: `one untimed warm-up pass each (results compared), then ${config.rounds} rounds of one full pass each, taken in turns, a GC before each pass; rates are records per second of the process's CPU time (user + system, GC threads included), which a machine shared with other work inflates far less than the wall clock (also recorded, in the notes) (BENCH_SCALE=${config.scale}, BENCH_ROUNDS=${config.rounds})`,
      memory:
        'one pass per contestant in its own process (--expose-gc): heap and RSS sampled every 16 384 records',
    };
    const cases: CaseResult[] = [];
    for (const job of Object.keys(JOBS) as JobName[]) {
      cases.push(...(await measureJob(job, records, context)));
    }
    return { settings, cases };
  },
};
