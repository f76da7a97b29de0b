import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rate, scaled, timeLoop, type Suite, type SuiteContext } from './harness.js';
import { pgUrl, postgresSettings } from './event-store/postgres.js';
import { kafkaBaseline, kafkaBrokers, kafkaCauseway, kafkaSettings } from './transports/kafka.js';
import {
  runCase,
  toCase,
  type CaseSpec,
  type Entrants,
  type Outcome,
  type RoundResult,
  type Running,
} from './transports/measure.js';
import { natsBaseline, natsCauseway, natsSettings, natsUrl } from './transports/nats.js';
import {
  OUTBOX_BATCH,
  OUTBOX_WRITE_TX,
  outboxCaseName,
  type OutboxContestant,
  type OutboxTarget,
} from './transports/outbox.js';
import {
  OUTBOX_CAUSEWAY_SCHEMA,
  OUTBOX_RAW_SCHEMA,
  postgresOutboxBaseline,
  postgresOutboxCauseway,
} from './transports/outbox-postgres.js';
import { sqliteOutboxBaseline, sqliteOutboxCauseway } from './transports/outbox-sqlite.js';
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
import { pulsarBaseline, pulsarCauseway, pulsarSettings, pulsarUrl } from './transports/pulsar.js';
import { redisBaseline, redisCauseway, redisSettings, redisUrl } from './transports/redis.js';
import { snsBaseline, snsCauseway, snsSettings } from './transports/sns.js';
import { awsEndpoint, MOTO_NOTE, sqsBaseline, sqsCauseway, sqsSettings } from './transports/sqs.js';
import { removeSqliteFiles, sqliteBaseline, sqliteCauseway } from './transports/sqlite.js';
import {
  BATCH_SIZE,
  CONCURRENCY,
  describeError,
  IN_FLIGHT,
  MESSAGE_TYPE,
  percentile,
  PREFETCH,
  type TransportContestant,
} from './transports/workload.js';

/**
 * `npm run bench -- transports`: durable publish throughput, end-to-end throughput and
 * latency of Causeway's transports (SQLite, PostgreSQL, RabbitMQ, NATS JetStream, Kafka, Redis Streams,
 * Pulsar, SQS and SNS → SQS on moto), and
 * the outbox relay on SQLite and PostgreSQL, each against the raw client doing the same
 * confirmed publish and the same acked consume, in one process, on the same server.
 */

/** Messages per end-to-end round (scaled). */
const END_TO_END_MESSAGES = 2_000;
/**
 * Messages per end-to-end round on moto (scaled): an in-memory emulator handling a few hundred
 * requests a second, where 2 000 messages a round would make SQS and SNS most of the suite.
 */
const MOTO_END_TO_END_MESSAGES = 400;

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

const perSecond = (round: RoundResult) => round.rate.perSecond;

/** Adds a case's row to the results, or to the skipped list when it has no baseline. */
function addRow(
  outcome: Outcome,
  name: string,
  running: readonly Running<unknown>[],
  unit: string,
  pick: (round: RoundResult) => number,
  lowerIsBetter = false,
) {
  const row = toCase(name, unit, running, pick, lowerIsBetter);
  if ('skipped' in row) outcome.skipped.push({ name, reason: row.skipped });
  else outcome.cases.push(row);
  return row;
}

/** The outbox relay: a backlog written in transactions of 10, drained by the relay. */
async function measureOutbox(
  name: string,
  entrants: Entrants<OutboxContestant>,
  messages: number,
  context: SuiteContext,
  outcome: Outcome,
): Promise<void> {
  const spec: CaseSpec<OutboxContestant> = {
    name,
    unit: 'msgs/s',
    round: async (c, _window, warmupMs) => {
      const result = await c.relay(warmupMs > 0 ? Math.max(OUTBOX_BATCH, messages / 10) : messages);
      return { rate: rate(1, result.units, result.elapsedMs) };
    },
  };
  addRow(outcome, name, await runCase(spec, entrants, context), spec.unit, perSecond);
}

async function measureBackend(
  backend: string,
  entrants: Entrants<TransportContestant>,
  context: SuiteContext,
  outcome: Outcome,
  messages: number,
): Promise<void> {
  const names = caseNames(backend, messages);
  const publishOne: CaseSpec<TransportContestant> = {
    name: names.publishOne,
    unit: 'msgs/s',
    round: async (c, durationMs, warmupMs) => ({
      rate: await timeLoop((_, i) => c.publishOne(i), { durationMs, warmupMs }),
    }),
  };
  const publishBatch: CaseSpec<TransportContestant> = {
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
  const endToEnd: CaseSpec<TransportContestant> = {
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
  for (const spec of [publishOne, publishBatch]) {
    const running = await runCase(spec, entrants, context);
    addRow(outcome, spec.name, running, spec.unit, perSecond);
  }
  const running = await runCase(endToEnd, entrants, context);
  addRow(outcome, endToEnd.name, running, endToEnd.unit, perSecond);
  for (const p of [50, 99]) {
    const name = names.latency(p);
    const latency = (r: RoundResult) => percentile(r.latencies ?? [], p);
    const row = addRow(outcome, name, running, 'ms', latency, true);
    if (!('skipped' in row))
      context.progress(
        `  ${name}: baseline ${row.baseline.value} ms, causeway ${row.value ?? '—'} ms (median of rounds)`,
      );
  }
}

const BACKENDS = [
  'sqlite',
  'postgres',
  'rabbitmq',
  'nats',
  'kafka',
  'redis',
  'pulsar',
  'sqs',
  'sns',
  'outbox',
];

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
  entrants(): Promise<Entrants<TransportContestant>>;
  after?(): Promise<void>;
  hint: string;
  /** Messages per end-to-end round before scaling, when not `END_TO_END_MESSAGES`. */
  endToEndMessages?: number;
}

export const suite: Suite = {
  name: 'transports',
  description:
    'durable publish, end-to-end throughput and latency, outbox relay: SQLite, PostgreSQL, RabbitMQ, NATS JetStream, Kafka, Redis Streams, Pulsar, SQS and SNS (on moto: ratios only), vs the raw client',
  async run(context) {
    const { config } = context;
    const outcome: Outcome = { cases: [], skipped: [] };
    const messages = scaled(END_TO_END_MESSAGES, config, BATCH_SIZE);
    const only = backendFilter(process.env['BENCH_TRANSPORTS']);
    const aws = awsEndpoint();
    const settings: Record<string, string> = {
      messages: `type "${MESSAGE_TYPE}", ~150 B JSON body, no partition key; both sides send the CloudEvents attributes (specversion, id as UUIDv7, source, type, time) as the protocol's headers and the content type, the raw side building them by hand`,
      publish: `one publisher awaiting each publish (1 message, or ${BATCH_SIZE} at once) until the broker confirmed it / the COMMIT returned; the destination has one consumer group that is not consuming, so every message is stored for it`,
      'end to end': `${messages} messages per round published in confirmed batches of ${BATCH_SIZE}, at most ${IN_FLIGHT} published but not yet handled; the consumer acks each message after its handler; raw consumers get the same credit as Causeway's runtime (concurrency ${CONCURRENCY}, prefetch ${PREFETCH}); latency = publish call → handler, same process`,
      outbox: `${messages} messages per round written untimed in transactions of ${OUTBOX_WRITE_TX}, then timed from the relay's start until the last is confirmed; both sides claim ${OUTBOX_BATCH} at a time, publish them in one confirmed publish, mark them sent`,
      moto: `SQS and SNS run on ${aws}: ${MOTO_NOTE}; their end-to-end rounds move ${scaled(MOTO_END_TO_END_MESSAGES, config, BATCH_SIZE)} messages`,
      timing: `per case and side: a warm-up (${config.warmupMs} ms, or a tenth of a round of messages), then ${config.rounds} rounds taken in turns (${Math.round(config.durationMs / config.rounds)} ms each for publish cases, ${messages} messages otherwise); figures are the median of the rounds, every round is kept in the results (BENCH_SCALE=${config.scale}, BENCH_ROUNDS=${config.rounds})`,
    };

    const dir = process.env['BENCH_DATA_DIR'] ?? join(tmpdir(), 'causeway-bench');
    const pg = pgUrl();
    const amqp = amqpUrl();
    const nats = natsUrl();
    const kafka = kafkaBrokers();
    const redis = redisUrl();
    const pulsar = pulsarUrl();
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
        after: () => dropTransportSchemas(pg, [OUTBOX_RAW_SCHEMA, OUTBOX_CAUSEWAY_SCHEMA]),
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
      {
        name: 'kafka',
        settings: () => kafkaSettings(kafka),
        entrants: async () => ({
          baseline: kafkaBaseline(kafka),
          causeway: await kafkaCauseway(kafka),
        }),
        hint: 'start it with scripts/services.sh up kafka or set CAUSEWAY_KAFKA_BROKERS',
      },
      {
        name: 'redis',
        settings: () => redisSettings(redis),
        entrants: async () => ({
          baseline: redisBaseline(redis),
          causeway: await redisCauseway(redis),
        }),
        hint: 'start it with scripts/services.sh up redis or set CAUSEWAY_REDIS_URL',
      },
      {
        name: 'pulsar',
        settings: () => pulsarSettings(pulsar),
        entrants: async () => ({
          baseline: pulsarBaseline(pulsar),
          causeway: await pulsarCauseway(pulsar),
        }),
        hint: 'start it with scripts/services.sh up pulsar or set CAUSEWAY_PULSAR_URL',
      },
      {
        name: 'sqs',
        settings: () => sqsSettings(aws),
        entrants: async () => ({ baseline: sqsBaseline(aws), causeway: await sqsCauseway(aws) }),
        hint: 'start moto with scripts/services.sh up moto or set CAUSEWAY_SQS_ENDPOINT',
        endToEndMessages: MOTO_END_TO_END_MESSAGES,
      },
      {
        name: 'sns',
        settings: () => snsSettings(aws),
        entrants: async () => ({ baseline: snsBaseline(aws), causeway: await snsCauseway(aws) }),
        hint: 'start moto with scripts/services.sh up moto or set CAUSEWAY_SQS_ENDPOINT',
        endToEndMessages: MOTO_END_TO_END_MESSAGES,
      },
    ];

    // Each server is asked once; its answer (settings, or why it is down) serves every case.
    const probes = new Map<string, Promise<string | undefined>>();
    const unavailable = (backend: Backend): Promise<string | undefined> => {
      let probe = probes.get(backend.name);
      if (!probe) {
        probe = backend.settings().then(
          (found) => void Object.assign(settings, found),
          (error: unknown) =>
            `${backend.name} is not reachable (${describeError(error)}); ${backend.hint}`,
        );
        probes.set(backend.name, probe);
      }
      return probe;
    };
    const byName = (name: string) => backends.find((b) => b.name === name)!;

    for (const backend of backends) {
      if (only && !only.has(backend.name)) continue;
      const reason = await unavailable(backend);
      const count =
        backend.endToEndMessages === undefined
          ? messages
          : scaled(backend.endToEndMessages, config, BATCH_SIZE);
      if (reason !== undefined) {
        context.progress(reason);
        for (const name of allCaseNames(backend.name, count))
          outcome.skipped.push({ name, reason });
        continue;
      }
      if (backend.endToEndMessages !== undefined) context.progress(`${backend.name}: ${MOTO_NOTE}`);
      await measureBackend(backend.name, await backend.entrants(), context, outcome, count);
      await backend.after?.();
    }

    if (!only || only.has('outbox')) {
      const targets: OutboxTarget[] = ['queue', 'rabbitmq'];
      for (const db of ['sqlite', 'postgres'] as const) {
        for (const target of targets) {
          const name = outboxCaseName(db, target);
          const needed = target === 'rabbitmq' ? [db, 'rabbitmq'] : [db];
          const reasons = await Promise.all(needed.map((b) => unavailable(byName(b))));
          const reason = reasons.find((r) => r !== undefined);
          if (reason !== undefined) {
            outcome.skipped.push({ name, reason });
            continue;
          }
          const entrants: Entrants<OutboxContestant> =
            db === 'sqlite'
              ? {
                  baseline: sqliteOutboxBaseline(dir, target, amqp),
                  causeway: await sqliteOutboxCauseway(dir, target, amqp),
                }
              : {
                  baseline: postgresOutboxBaseline(pg, target, amqp),
                  causeway: await postgresOutboxCauseway(pg, target, amqp),
                };
          await measureOutbox(name, entrants, messages, context, outcome);
        }
        await byName(db).after?.();
      }
    }

    const { cases, skipped } = outcome;
    return { settings, cases, ...(skipped.length > 0 ? { skipped } : {}) };
  },
};
