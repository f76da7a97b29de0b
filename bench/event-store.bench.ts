import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  combine,
  formatRate,
  ratio,
  scaled,
  timeLoop,
  type BenchConfig,
  type CaseResult,
  type LoopOptions,
  type Rate,
  type Suite,
  type SuiteContext,
} from './harness.js';
import {
  dropPostgresSchemas,
  pgUrl,
  postgresBaseline,
  postgresCauseway,
  postgresEmmett,
  postgresSettings,
} from './event-store/postgres.js';
import {
  removeSqliteFiles,
  sqliteBaseline,
  sqliteCauseway,
  sqliteEmmett,
} from './event-store/sqlite.js';
import {
  READ_PAGE_SIZE,
  STREAMS_PER_WRITER,
  type Contestant,
  type Entrant,
} from './event-store/workload.js';

/**
 * `npm run bench -- event-store`: append and read throughput of the SQLite and PostgreSQL
 * event stores against raw driver INSERT/SELECT loops on the same database (the baseline)
 * and against Emmett's stores (the peer), in one process.
 */

const BATCH_SIZE = 100;
const WRITERS = 8;
const READ_EVENTS = 50_000;

interface Entrants {
  baseline: Entrant;
  causeway: Entrant;
  emmett: Entrant;
}

interface CaseSpec {
  name: string;
  unit: string;
  /** Untimed preparation on a freshly opened contestant (seeding, a warm-up pass). */
  setup?: (contestant: Contestant) => Promise<void>;
  /** One timed window; `warmupMs` is non-zero in the first round only. */
  measure: (contestant: Contestant, window: LoopOptions) => Promise<Rate>;
}

function cases(config: BenchConfig, backend: 'sqlite' | 'postgres'): CaseSpec[] {
  const readEvents = scaled(READ_EVENTS, config, READ_PAGE_SIZE);
  const list: CaseSpec[] = [
    {
      name: `${backend} · append 1 event/tx · 1 writer`,
      unit: 'appends/s',
      measure: (c, window) => timeLoop((writer, i) => c.appendOne(writer, i), window),
    },
    {
      name: `${backend} · append ${BATCH_SIZE}-event batch · 1 writer`,
      unit: 'events/s',
      measure: (c, window) =>
        timeLoop((writer, i) => c.appendBatch(writer, i, BATCH_SIZE), {
          ...window,
          unitsPerOp: BATCH_SIZE,
        }),
    },
  ];
  if (backend === 'postgres') {
    list.push({
      name: `${backend} · append 1 event/tx · ${WRITERS} writers`,
      unit: 'appends/s',
      measure: (c, window) =>
        timeLoop((writer, i) => c.appendOne(writer, i), { ...window, workers: WRITERS }),
    });
  }
  const readAll = async (c: Contestant) => {
    const read = await c.readAll();
    if (read !== readEvents)
      throw new Error(`readAll returned ${read} events, expected ${readEvents}`);
  };
  list.push({
    name: `${backend} · readAll ${(readEvents / 1000).toLocaleString('en-US')}k events`,
    unit: 'events/s',
    setup: async (c) => {
      await c.seed(readEvents);
      await readAll(c); // warm-up: one full pass
    },
    measure: (c, window) =>
      timeLoop(() => readAll(c), { ...window, warmupMs: 0, unitsPerOp: readEvents }),
  });
  return list;
}

const SIDES = ['baseline', 'causeway', 'emmett'] as const;
type Side = (typeof SIDES)[number];

interface Running {
  side: Side;
  contestant?: Contestant;
  rates: Rate[];
  failure?: string;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Opens all three contestants on fresh storage, then lets them take turns for
 * `config.rounds` rounds. A contestant that fails drops out with its reason; the baseline
 * failing fails the case.
 */
async function measureCase(
  spec: CaseSpec,
  entrants: Entrants,
  context: SuiteContext,
): Promise<CaseResult> {
  const { config } = context;
  context.progress(spec.name);
  const running: Running[] = [];
  try {
    for (const side of SIDES) {
      const entrant = entrants[side];
      const entry: Running = { side, rates: [] };
      running.push(entry);
      if ('reason' in entrant) {
        entry.failure = entrant.reason;
        continue;
      }
      try {
        entry.contestant = await entrant.open();
        await spec.setup?.(entry.contestant);
      } catch (error) {
        entry.failure = `${entrant.label} failed: ${describeError(error)}`;
      }
    }
    const window = Math.max(1, Math.round(config.durationMs / config.rounds));
    for (let round = 0; round < config.rounds; round++) {
      for (const entry of running) {
        if (!entry.contestant || entry.failure !== undefined) continue;
        try {
          const warmupMs = round === 0 ? config.warmupMs : 0;
          entry.rates.push(await spec.measure(entry.contestant, { durationMs: window, warmupMs }));
        } catch (error) {
          entry.failure = `failed in round ${round + 1}: ${describeError(error)}`;
        }
      }
    }
  } finally {
    for (const entry of running) await entry.contestant?.close().catch(() => undefined);
  }

  const total = (side: Side): number | null => {
    const entry = running.find((r) => r.side === side);
    return entry && entry.failure === undefined && entry.rates.length > 0
      ? combine(entry.rates).perSecond
      : null;
  };
  for (const entry of running) {
    const value = total(entry.side);
    const shown =
      value === null ? `— (${entry.failure ?? 'no result'})` : `${formatRate(value)} ${spec.unit}`;
    const perRound = entry.rates.map((r) => formatRate(r.perSecond)).join(' / ');
    context.progress(
      `  ${entry.side.padEnd(9)} ${shown}${perRound ? `   rounds: ${perRound}` : ''}`,
    );
  }

  const baseline = total('baseline');
  if (baseline === null) {
    throw new Error(`${spec.name}: baseline could not run: ${running[0]?.failure ?? 'no result'}`);
  }
  const value = total('causeway');
  const emmett = total('emmett');
  const notes = running.flatMap((entry) =>
    entry.failure === undefined ? [] : [`${entry.side}: ${entry.failure}`],
  );
  const baselineEntrant = entrants.baseline;
  const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    name: spec.name,
    value: value === null ? null : r1(value),
    unit: spec.unit,
    baseline: {
      name: 'label' in baselineEntrant ? baselineEntrant.label : 'baseline',
      value: r1(baseline),
    },
    ratioToBaseline: r3(ratio(value, baseline)),
    emmett:
      emmett === null
        ? null
        : {
            value: r1(emmett),
            ratio: r3(ratio(value, emmett)),
            ratioToBaseline: r3(emmett / baseline) ?? 0,
          },
    rounds: Object.fromEntries(
      running
        .filter((entry) => entry.rates.length > 0)
        .map((entry) => [entry.side, entry.rates.map((r) => Math.round(r.perSecond))]),
    ),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

export const suite: Suite = {
  name: 'event-store',
  description: 'append and readAll throughput: SQLite and PostgreSQL, vs raw driver and Emmett',
  async run(context) {
    const { config } = context;
    const results: CaseResult[] = [];
    const skipped: { name: string; reason: string }[] = [];
    const settings: Record<string, string> = {
      workload: `event "ItemAdded" (~100 B JSON); ${STREAMS_PER_WRITER} streams per writer; appends pass the exact expected version (the baselines number rows themselves)`,
      timing: `per case and contestant: ${config.warmupMs} ms warm-up, then ${config.durationMs} ms in ${config.rounds} rounds taken in turns (BENCH_SCALE=${config.scale}, BENCH_ROUNDS=${config.rounds})`,
      reads: `${READ_PAGE_SIZE} events per round trip; data and metadata JSON parsed by every contestant`,
    };

    const dir = process.env['BENCH_DATA_DIR'] ?? join(tmpdir(), 'causeway-bench');
    settings['sqlite'] =
      `journal_mode=WAL, synchronous=FULL for all (Emmett sets WAL itself; synchronous checked); files in ${dir}`;
    const sqlite: Entrants = {
      baseline: sqliteBaseline(dir),
      causeway: await sqliteCauseway(dir),
      emmett: sqliteEmmett(dir),
    };
    for (const spec of cases(config, 'sqlite'))
      results.push(await measureCase(spec, sqlite, context));
    removeSqliteFiles(dir);

    const url = pgUrl();
    let pgReady = false;
    try {
      Object.assign(settings, await postgresSettings(url));
      pgReady = true;
    } catch (error) {
      const reason = `PostgreSQL at ${new URL(url).host} is not reachable (${error instanceof Error ? error.message : String(error)}); start it with scripts/services.sh up postgres or set CAUSEWAY_PG_URL`;
      context.progress(reason);
      for (const spec of cases(config, 'postgres')) skipped.push({ name: spec.name, reason });
    }
    if (pgReady) {
      const postgres: Entrants = {
        baseline: postgresBaseline(url),
        causeway: await postgresCauseway(url),
        emmett: postgresEmmett(url),
      };
      for (const spec of cases(config, 'postgres'))
        results.push(await measureCase(spec, postgres, context));
      await dropPostgresSchemas(url);
    }
    return { settings, cases: results, ...(skipped.length > 0 ? { skipped } : {}) };
  },
};
