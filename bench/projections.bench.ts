import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  combine,
  formatRate,
  rate,
  ratio,
  scaled,
  type CaseResult,
  type Rate,
  type Suite,
  type SuiteContext,
} from './harness.js';
import { pgUrl, postgresSettings } from './event-store/postgres.js';
import {
  dropProjectionSchemas,
  postgresCausewayCatchUp,
  postgresCausewayCommands,
  postgresRawCatchUp,
  postgresRawCommands,
  seedPostgresCatchUp,
} from './projections/postgres.js';
import {
  removeSqliteFiles,
  seedSqliteCatchUp,
  sqliteCausewayCatchUp,
  sqliteCausewayCommands,
  sqliteRawCatchUp,
  sqliteRawCommands,
} from './projections/sqlite.js';
import { COMMANDS_PER_ORDER, PAGE_SIZE, SEED_BATCH, type Opener } from './projections/workload.js';

/**
 * `npm run bench -- projections`: (a) an async projection catching up on the log, and (b)
 * commands end to end with an inline projection, on SQLite and PostgreSQL, each against a raw
 * driver loop doing the same SQL on the same database.
 */

const CATCH_UP_EVENTS = 100_000;

interface CaseSpec {
  name: string;
  unit: string;
  baseline: Opener;
  causeway: Opener;
  /** Catch-up rounds are one full pass each; command rounds are time windows. */
  kind: 'pass' | 'window';
}

const SIDES = ['baseline', 'causeway'] as const;
type Side = (typeof SIDES)[number];

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Opens both sides, warms each up once, then lets them take turns for `rounds` rounds. */
async function measureCase(spec: CaseSpec, context: SuiteContext): Promise<CaseResult> {
  const { config } = context;
  context.progress(spec.name);
  const running = SIDES.map((side) => ({
    side,
    opener: spec[side],
    contender: undefined as
      Awaited<ReturnType<Extract<Opener, { open: unknown }>['open']>> | undefined,
    rates: [] as Rate[],
    failure: undefined as string | undefined,
  }));
  const window = Math.max(1, Math.round(config.durationMs / config.rounds));
  try {
    for (const entry of running) {
      if ('reason' in entry.opener) {
        entry.failure = entry.opener.reason;
        continue;
      }
      try {
        entry.contender = await entry.opener.open();
        // Warm-up: one untimed pass, or one untimed window.
        await entry.contender.round(spec.kind === 'pass' ? 0 : config.warmupMs);
      } catch (error) {
        entry.failure = `${entry.opener.label} failed: ${describeError(error)}`;
      }
    }
    for (let round = 0; round < config.rounds; round++) {
      for (const entry of running) {
        if (!entry.contender || entry.failure !== undefined) continue;
        try {
          const { units, elapsedMs } = await entry.contender.round(window);
          entry.rates.push(rate(1, units, elapsedMs));
        } catch (error) {
          entry.failure = `failed in round ${round + 1}: ${describeError(error)}`;
        }
      }
    }
  } finally {
    for (const entry of running) await entry.contender?.close().catch(() => undefined);
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
  if (baseline === null)
    throw new Error(`${spec.name}: baseline could not run: ${running[0]?.failure ?? 'no result'}`);
  const value = total('causeway');
  const notes = running.flatMap((entry) =>
    entry.failure === undefined ? [] : [`${entry.side}: ${entry.failure}`],
  );
  const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
  return {
    name: spec.name,
    value: value === null ? null : Math.round(value * 10) / 10,
    unit: spec.unit,
    baseline: {
      name: 'label' in spec.baseline ? spec.baseline.label : 'baseline',
      value: Math.round(baseline * 10) / 10,
    },
    ratioToBaseline: r3(ratio(value, baseline)),
    emmett: null,
    rounds: Object.fromEntries(
      running
        .filter((entry) => entry.rates.length > 0)
        .map((entry) => [entry.side, entry.rates.map((r) => Math.round(r.perSecond))]),
    ),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

function catchUpName(backend: string, events: number): string {
  return `${backend} · async catch-up, order read model · ${(events / 1000).toLocaleString('en-US')}k events`;
}

function commandsName(backend: string): string {
  return `${backend} · commands: bus → decider → append + inline projection · 1 writer`;
}

export const suite: Suite = {
  name: 'projections',
  description:
    'async projection catch-up and end-to-end commands with an inline projection: SQLite and PostgreSQL, vs raw driver loops',
  async run(context) {
    const { config } = context;
    const events = scaled(CATCH_UP_EVENTS, config, SEED_BATCH);
    const results: CaseResult[] = [];
    const skipped: { name: string; reason: string }[] = [];
    const settings: Record<string, string> = {
      'catch-up': `${events} events (1% CustomerRegistered, OrderPlaced, OrderConfirmed); each handler does one lookup by key and one upsert; ${PAGE_SIZE} events per read page and per transaction (with the checkpoint) on both sides; each round empties the read model (untimed) and times one pass from position 0 to the head`,
      commands: `PlaceOrder then ${COMMANDS_PER_ORDER - 1} × AddItem per order (streams stay ≤ ${COMMANDS_PER_ORDER} events); each command reads its stream, folds it with the same decider, appends one event and upserts the order's summary row in the same transaction`,
      timing: `one untimed warm-up pass (catch-up) or ${config.warmupMs} ms window (commands) per side, then ${config.rounds} rounds taken in turns (catch-up: one pass each; commands: ${Math.round(config.durationMs / config.rounds)} ms each) (BENCH_SCALE=${config.scale}, BENCH_ROUNDS=${config.rounds})`,
    };

    const dir = process.env['BENCH_DATA_DIR'] ?? join(tmpdir(), 'causeway-bench');
    settings['sqlite'] = `journal_mode=WAL, synchronous=FULL for both sides; files in ${dir}`;
    context.progress(`seeding ${events} events into SQLite`);
    const file = await seedSqliteCatchUp(dir, events);
    results.push(
      await measureCase(
        {
          name: catchUpName('sqlite', events),
          unit: 'events/s',
          baseline: sqliteRawCatchUp(file, events),
          causeway: sqliteCausewayCatchUp(file, events),
          kind: 'pass',
        },
        context,
      ),
    );
    results.push(
      await measureCase(
        {
          name: commandsName('sqlite'),
          unit: 'commands/s',
          baseline: sqliteRawCommands(dir),
          causeway: sqliteCausewayCommands(dir),
          kind: 'window',
        },
        context,
      ),
    );
    removeSqliteFiles(dir);

    const url = pgUrl();
    let pgReady = false;
    try {
      Object.assign(settings, await postgresSettings(url));
      pgReady = true;
    } catch (error) {
      const reason = `PostgreSQL at ${new URL(url).host} is not reachable (${describeError(error)}); start it with scripts/services.sh up postgres or set CAUSEWAY_PG_URL`;
      context.progress(reason);
      skipped.push({ name: catchUpName('postgres', events), reason });
      skipped.push({ name: commandsName('postgres'), reason });
    }
    if (pgReady) {
      settings['postgres.pool'] = 'one pool of 4 connections per side';
      context.progress(`seeding ${events} events into PostgreSQL`);
      const schema = await seedPostgresCatchUp(url, events);
      results.push(
        await measureCase(
          {
            name: catchUpName('postgres', events),
            unit: 'events/s',
            baseline: postgresRawCatchUp(url, schema, events),
            causeway: postgresCausewayCatchUp(url, schema, events),
            kind: 'pass',
          },
          context,
        ),
      );
      results.push(
        await measureCase(
          {
            name: commandsName('postgres'),
            unit: 'commands/s',
            baseline: postgresRawCommands(url),
            causeway: postgresCausewayCommands(url),
            kind: 'window',
          },
          context,
        ),
      );
      await dropProjectionSchemas(url);
    }
    return { settings, cases: results, ...(skipped.length > 0 ? { skipped } : {}) };
  },
};
