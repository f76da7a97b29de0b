import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatRate,
  rate,
  ratio,
  scaled,
  timeLoop,
  type CaseResult,
  type Rate,
  type Suite,
  type SuiteContext,
} from './harness.js';
import { pgUrl, postgresSettings } from './event-store/postgres.js';
import { kafkaEntrants, kafkaPending } from './transports/kafka.js';
import { natsBaseline, natsCauseway, natsSettings, natsUrl } from './transports/nats.js';
import { outboxPending } from './transports/outbox.js';
import {
  dropTransportSchemas,
  POOL_SIZE,
  postgresBaseline,
  postgresCauseway,
} from './transports/postgres.js';
import {
  amqpUrl,
  rabbitMqBaseline,
  rabbitMqCauseway,
  rabbitMqSettings,
} from './transports/rabbitmq.js';
import { removeSqliteFiles, sqliteBaseline, sqliteCauseway } from './transports/sqlite.js';
import {
  BATCH_SIZE,
  CONCURRENCY,
  describeError,
  IN_FLIGHT,
  median,
  MESSAGE_TYPE,
  percentile,
  PREFETCH,
  type TransportContestant,
  type TransportEntrant,
} from './transports/workload.js';

/**
 * `npm run bench -- transports`: durable publish throughput and end-to-end throughput and
 * latency of Causeway's transports (SQLite, PostgreSQL, RabbitMQ, NATS JetStream; Kafka once
 * its adapter lands) against the raw client doing the same confirmed publish and the same
 * acked consume, in one process, on the same server.
 */

/** Messages per end-to-end round (scaled). */
const END_TO_END_MESSAGES = 2_000;

const SIDES = ['baseline', 'causeway'] as const;
type Side = (typeof SIDES)[number];

interface Entrants {
  baseline: TransportEntrant;
  causeway: TransportEntrant;
}

/** One round of one side: a rate, and for end-to-end rounds the latencies. */
interface RoundResult {
  rate: Rate;
  latencies?: number[];
}

interface CaseSpec {
  name: string;
  unit: string;
  /** One timed round; `warmupMs` is non-zero only for the untimed warm-up call. */
  round: (
    contestant: TransportContestant,
    windowMs: number,
    warmupMs: number,
  ) => Promise<RoundResult>;
}

interface Running {
  side: Side;
  label: string;
  contestant?: TransportContestant;
  rounds: RoundResult[];
  failure?: string;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

/**
 * Opens both sides on fresh names, warms each up, then lets them take turns for
 * `config.rounds` rounds; each figure is the median of its rounds. A side that fails drops
 * out with its reason; the baseline failing leaves the case without figures (noted).
 */
async function runCase(
  spec: CaseSpec,
  entrants: Entrants,
  context: SuiteContext,
): Promise<Running[]> {
  const { config } = context;
  context.progress(spec.name);
  const running: Running[] = [];
  const window = Math.max(1, Math.round(config.durationMs / config.rounds));
  try {
    for (const side of SIDES) {
      const entrant = entrants[side];
      const entry: Running = {
        side,
        label: 'label' in entrant ? entrant.label : side,
        rounds: [],
      };
      running.push(entry);
      if ('reason' in entrant) {
        entry.failure = entrant.reason;
        continue;
      }
      try {
        entry.contestant = await entrant.open();
        await spec.round(entry.contestant, 0, config.warmupMs); // warm-up, not kept
      } catch (error) {
        entry.failure = `${entrant.label} failed: ${describeError(error)}`;
      }
    }
    for (let round = 0; round < config.rounds; round++) {
      for (const entry of running) {
        if (!entry.contestant || entry.failure !== undefined) continue;
        try {
          entry.rounds.push(await spec.round(entry.contestant, window, 0));
        } catch (error) {
          entry.failure = `failed in round ${round + 1}: ${describeError(error)}`;
        }
      }
    }
  } finally {
    for (const entry of running) await entry.contestant?.close().catch(() => undefined);
  }
  for (const entry of running) {
    const ok = entry.failure === undefined && entry.rounds.length > 0;
    const perRound = entry.rounds.map((r) => formatRate(r.rate.perSecond)).join(' / ');
    context.progress(
      `  ${entry.side.padEnd(9)} ${ok ? `${formatRate(median(entry.rounds.map((r) => r.rate.perSecond)))} ${spec.unit} (median)` : `— (${entry.failure ?? 'no result'})`}${perRound ? `   rounds: ${perRound}` : ''}`,
    );
  }
  return running;
}

/** A row of the results: `pick` turns one round into the figure (a rate or a latency). */
function toCase(
  name: string,
  unit: string,
  running: readonly Running[],
  pick: (round: RoundResult) => number,
  lowerIsBetter = false,
): CaseResult | { skipped: string } {
  const figure = (side: Side): number | null => {
    const entry = running.find((r) => r.side === side);
    return entry && entry.failure === undefined && entry.rounds.length > 0
      ? median(entry.rounds.map(pick))
      : null;
  };
  const baseline = figure('baseline');
  const baselineEntry = running.find((r) => r.side === 'baseline');
  // Without the baseline there is no ratio to give: the case is listed as skipped, with why.
  if (baseline === null) return { skipped: `baseline: ${baselineEntry?.failure ?? 'no result'}` };
  const value = figure('causeway');
  const notes = running.flatMap((entry) =>
    entry.failure === undefined ? [] : [`${entry.side}: ${entry.failure}`],
  );
  if (lowerIsBetter)
    notes.push('latency: ×baseline = raw ÷ causeway, so below 1 means Causeway is slower');
  const digits = lowerIsBetter ? (x: number) => Math.round(x * 100) / 100 : r1;
  return {
    name,
    value: value === null ? null : digits(value),
    unit,
    baseline: { name: baselineEntry?.label ?? 'baseline', value: digits(baseline) },
    ratioToBaseline: r3(lowerIsBetter ? ratio(baseline, value) : ratio(value, baseline)),
    emmett: null,
    rounds: Object.fromEntries(
      running
        .filter((entry) => entry.rounds.length > 0)
        .map((entry) => [entry.side, entry.rounds.map((r) => digits(pick(r)))]),
    ),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

interface Outcome {
  cases: CaseResult[];
  skipped: { name: string; reason: string }[];
}

/** The names of a backend's cases (also listed as skipped when its server is down). */
function caseNames(backend: string, messages: number) {
  return {
    publishOne: `${backend} · publish 1 message, confirmed · 1 publisher`,
    publishBatch: `${backend} · publish ${BATCH_SIZE}-message batch, confirmed · 1 publisher`,
    endToEnd: `${backend} · end to end: publish → handler → ack · ${messages} msgs/round`,
    latency: (p: number) => `${backend} · end to end latency p${p}`,
  };
}

function allCaseNames(backend: string, messages: number): string[] {
  const names = caseNames(backend, messages);
  return [
    names.publishOne,
    names.publishBatch,
    names.endToEnd,
    names.latency(50),
    names.latency(99),
  ];
}

async function measureBackend(
  backend: string,
  entrants: Entrants,
  context: SuiteContext,
  outcome: Outcome,
): Promise<void> {
  const { config } = context;
  const messages = scaled(END_TO_END_MESSAGES, config, BATCH_SIZE);
  const names = caseNames(backend, messages);
  const publishOne: CaseSpec = {
    name: names.publishOne,
    unit: 'msgs/s',
    round: async (c, durationMs, warmupMs) => ({
      rate: await timeLoop((_, i) => c.publishOne(i), { durationMs, warmupMs }),
    }),
  };
  const publishBatch: CaseSpec = {
    name: names.publishBatch,
    unit: 'msgs/s',
    round: async (c, durationMs, warmupMs) => ({
      rate: await timeLoop((_, i) => c.publishBatch(i, BATCH_SIZE), {
        durationMs,
        warmupMs,
        unitsPerOp: BATCH_SIZE,
      }),
    }),
  };
  const endToEnd: CaseSpec = {
    name: names.endToEnd,
    unit: 'msgs/s',
    round: async (c, _window, warmupMs) => {
      // Warm-up: a tenth of a round; timed rounds move `messages` each.
      const result = await c.endToEnd(
        warmupMs > 0 ? Math.max(BATCH_SIZE, messages / 10) : messages,
      );
      return { rate: rate(1, result.units, result.elapsedMs), latencies: result.latencies };
    },
  };
  const add = (name: string, row: CaseResult | { skipped: string }) => {
    if ('skipped' in row) outcome.skipped.push({ name, reason: row.skipped });
    else outcome.cases.push(row);
  };
  for (const spec of [publishOne, publishBatch]) {
    const running = await runCase(spec, entrants, context);
    add(
      spec.name,
      toCase(spec.name, spec.unit, running, (r) => r.rate.perSecond),
    );
  }
  const running = await runCase(endToEnd, entrants, context);
  add(
    endToEnd.name,
    toCase(endToEnd.name, endToEnd.unit, running, (r) => r.rate.perSecond),
  );
  for (const p of [50, 99]) {
    const name = names.latency(p);
    const row = toCase(name, 'ms', running, (r) => percentile(r.latencies ?? [], p), true);
    add(name, row);
    if (!('skipped' in row))
      context.progress(
        `  ${name}: baseline ${row.baseline.value} ms, causeway ${row.value ?? '—'} ms (median of rounds)`,
      );
  }
}

const BACKENDS = ['sqlite', 'postgres', 'rabbitmq', 'nats', 'kafka', 'outbox'];

/** `BENCH_TRANSPORTS=nats,rabbitmq` runs only those backends (all when unset). */
function backendFilter(value: string | undefined): Set<string> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !BACKENDS.includes(name));
  if (unknown.length > 0)
    throw new Error(
      `BENCH_TRANSPORTS names unknown backends: ${unknown.join(', ')} (known: ${BACKENDS.join(', ')})`,
    );
  return new Set(names);
}

interface Backend {
  name: string;
  /** Checks the server answers; returns the settings to record. Throws when it does not. */
  settings(): Promise<Record<string, string>>;
  entrants(): Promise<Entrants>;
  after?(): Promise<void>;
  hint: string;
}

export const suite: Suite = {
  name: 'transports',
  description:
    'durable publish and end-to-end throughput and latency: SQLite, PostgreSQL, RabbitMQ, NATS JetStream (Kafka when its adapter lands), vs the raw client',
  async run(context) {
    const { config } = context;
    const outcome: Outcome = { cases: [], skipped: [] };
    const messages = scaled(END_TO_END_MESSAGES, config, BATCH_SIZE);
    const only = backendFilter(process.env['BENCH_TRANSPORTS']);
    const settings: Record<string, string> = {
      messages: `type "${MESSAGE_TYPE}", ~150 B JSON body, no partition key; both sides send the CloudEvents attributes (specversion, id as UUIDv7, source, type, time) as the protocol's headers and the content type, the raw side building them by hand`,
      publish: `one publisher awaiting each publish (1 message, or ${BATCH_SIZE} at once) until the broker confirmed it / the COMMIT returned; the destination has one consumer group that is not consuming, so every message is stored for it`,
      'end to end': `${messages} messages per round published in confirmed batches of ${BATCH_SIZE}, at most ${IN_FLIGHT} published but not yet handled; the consumer acks each message after its handler; raw consumers get the same credit as Causeway's runtime (concurrency ${CONCURRENCY}, prefetch ${PREFETCH}); latency = publish call → handler, same process`,
      timing: `per case and side: a warm-up (${config.warmupMs} ms, or a tenth of an end-to-end round), then ${config.rounds} rounds taken in turns (${Math.round(config.durationMs / config.rounds)} ms each for publish cases, ${messages} messages for end to end); figures are the median of the rounds, every round is kept in the results (BENCH_SCALE=${config.scale}, BENCH_ROUNDS=${config.rounds})`,
    };

    const dir = process.env['BENCH_DATA_DIR'] ?? join(tmpdir(), 'causeway-bench');
    const pg = pgUrl();
    const amqp = amqpUrl();
    const nats = natsUrl();
    const backends: Backend[] = [
      {
        name: 'sqlite',
        settings: async () => ({
          sqlite: `journal_mode=WAL, synchronous=FULL for both sides; files in ${dir}`,
        }),
        entrants: async () => ({
          baseline: sqliteBaseline(dir),
          causeway: await sqliteCauseway(dir),
        }),
        after: async () => removeSqliteFiles(dir),
        hint: 'set BENCH_DATA_DIR to a writable directory',
      },
      {
        name: 'postgres',
        settings: async () => ({
          ...(await postgresSettings(pg)),
          'postgres.pool': `${POOL_SIZE} connections per side (Causeway adds its LISTEN connection)`,
        }),
        entrants: async () => ({
          baseline: postgresBaseline(pg),
          causeway: await postgresCauseway(pg),
        }),
        after: () => dropTransportSchemas(pg),
        hint: 'start it with scripts/services.sh up postgres or set CAUSEWAY_PG_URL',
      },
      {
        name: 'rabbitmq',
        settings: () => rabbitMqSettings(amqp),
        entrants: async () => ({
          baseline: rabbitMqBaseline(amqp),
          causeway: await rabbitMqCauseway(amqp),
        }),
        hint: 'start it with scripts/services.sh up rabbitmq or set CAUSEWAY_AMQP_URL',
      },
      {
        name: 'nats',
        settings: () => natsSettings(nats),
        entrants: async () => ({
          baseline: natsBaseline(nats),
          causeway: await natsCauseway(nats),
        }),
        hint: 'start it with scripts/services.sh up nats or set CAUSEWAY_NATS_URL',
      },
    ];

    for (const backend of backends) {
      if (only && !only.has(backend.name)) continue;
      let ready = false;
      try {
        Object.assign(settings, await backend.settings());
        ready = true;
      } catch (error) {
        const reason = `${backend.name} is not reachable (${describeError(error)}); ${backend.hint}`;
        context.progress(reason);
        for (const name of allCaseNames(backend.name, messages))
          outcome.skipped.push({ name, reason });
      }
      if (!ready) continue;
      await measureBackend(backend.name, await backend.entrants(), context, outcome);
      await backend.after?.();
    }

    if (!only || only.has('kafka')) {
      const kafka = kafkaPending();
      if (kafka === undefined) await measureBackend('kafka', kafkaEntrants(), context, outcome);
      else
        for (const name of allCaseNames('kafka', messages))
          outcome.skipped.push({ name, reason: kafka });
    }
    if (!only || only.has('outbox')) {
      const outbox = outboxPending();
      for (const name of outbox.cases) outcome.skipped.push({ name, reason: outbox.reason });
    }

    const { cases, skipped } = outcome;
    return { settings, cases, ...(skipped.length > 0 ? { skipped } : {}) };
  },
};
