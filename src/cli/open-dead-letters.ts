import { existsSync } from 'node:fs';
import { StoreUnavailableError } from '../core/errors.js';
import type { DeadLetterStore } from '../messaging/dead-letters.js';
import { CliError, ExitCode } from './errors.js';
import { importAdapter, openPostgresTable, parseDbTarget, type DbTarget } from './open-store.js';

/**
 * A broker that keeps its own dead letters, and the name prefix its transport uses (for
 * Pulsar: the `tenant/namespace` of its topics).
 */
export interface BrokerTarget {
  kind: 'rabbitmq' | 'nats' | 'kafka' | 'pulsar' | 'redis';
  url: string;
  prefix?: string;
}

/**
 * Amazon SQS (or an emulator): `endpoint` only when it is not AWS itself; without `region` the
 * SDK's chain decides (`AWS_REGION`, the profile). Credentials always come from that chain.
 */
export interface SqsTarget {
  kind: 'sqs';
  endpoint?: string;
  region?: string;
  prefix?: string;
  /** The transport's queues are FIFO queues (their names end in `.fifo`). */
  fifo: boolean;
}

/** Where `causeway dlq` finds dead letters: a SQL transport's table or a broker. */
export type DeadLetterTarget = DbTarget | BrokerTarget | SqsTarget;

/** An open dead-letter store, and how to let go of everything opened for it. */
export interface OpenedDeadLetters {
  store: DeadLetterStore;
  close(): Promise<void>;
}

/** A mistyped SQS endpoint should fail in seconds, not after the operating system's TCP timeout. */
const SQS_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens the dead letters behind `target`, importing only the adapter it needs. Nothing is
 * created: a file, schema or table that is not there is reported, not made.
 */
export async function openDeadLetters(target: DeadLetterTarget): Promise<OpenedDeadLetters> {
  if (target.kind === 'sqlite') return openSqlite(target);
  if (target.kind === 'postgres') return openPostgres(target);
  if (target.kind === 'nats') return openNats(target);
  if (target.kind === 'kafka') return openKafka(target);
  if (target.kind === 'pulsar') return openPulsar(target);
  if (target.kind === 'redis') return openRedis(target);
  if (target.kind === 'sqs') return openSqs(target);
  return openRabbitMq(target);
}

const NO_TABLE_HINT =
  'check --db; the SQLite and PostgreSQL transports create the table when they first start';

async function openSqlite(target: DbTarget & { kind: 'sqlite' }): Promise<OpenedDeadLetters> {
  if (!existsSync(target.filename)) {
    throw new CliError(
      `database file ${target.filename} does not exist`,
      'pass --db <sqlite-file | postgres-url> (the transport’s database), or --amqp <url>',
    );
  }
  const [{ SqliteDeadLetterStore }, { default: Database }] = await Promise.all([
    importAdapter(() => import('../adapters/sqlite/index.js'), 'better-sqlite3'),
    importAdapter(() => import('better-sqlite3'), 'better-sqlite3'),
  ]);
  let db: InstanceType<typeof Database>;
  try {
    db = new Database(target.filename, { fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const table = db
      .prepare(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'causeway_dead_letters'",
      )
      .get();
    if (table === undefined) {
      db.close();
      throw new CliError(
        `no Causeway transport in ${target.filename} (its causeway_dead_letters table is missing)`,
        NO_TABLE_HINT,
      );
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(
      `cannot open ${target.filename}: ${(error as Error).message}`,
      undefined,
      ExitCode.RuntimeError,
      {
        cause: error,
      },
    );
  }
  return {
    store: new SqliteDeadLetterStore(db),
    close: async () => void db.close(),
  };
}

async function openPostgres(target: DbTarget & { kind: 'postgres' }): Promise<OpenedDeadLetters> {
  const { PostgresDeadLetterStore } = await importAdapter(
    () => import('../adapters/postgres/index.js'),
    'pg',
  );
  const { pool, schema } = await openPostgresTable(
    target,
    'causeway_dead_letters',
    (schema) =>
      new CliError(
        `no Causeway transport in ${target.address}, schema "${schema}" (its causeway_dead_letters table is missing)`,
        `${NO_TABLE_HINT}; --schema names the schema`,
      ),
  );
  const store = new PostgresDeadLetterStore(pool, { schema, address: target.address });
  return { store, close: () => pool.end() };
}

async function openRabbitMq(target: BrokerTarget): Promise<OpenedDeadLetters> {
  const { RabbitMqTransportDriver } = await importAdapter(
    () => import('../adapters/rabbitmq/index.js'),
    'amqplib',
  );
  const driver = await RabbitMqTransportDriver.connect({
    url: target.url,
    ...(target.prefix === undefined ? {} : { prefix: target.prefix }),
  });
  return { store: driver.deadLetterStore, close: () => driver.close() };
}

async function openNats(target: BrokerTarget): Promise<OpenedDeadLetters> {
  // The adapter needs both NATS packages; a missing one is named, with its install command.
  const { NatsTransportDriver } = await importAdapter(
    () => importAdapter(() => import('../adapters/nats/index.js'), '@nats-io/jetstream'),
    '@nats-io/transport-node',
  );
  const driver = await NatsTransportDriver.connect({
    servers: target.url.split(','),
    ...(target.prefix === undefined ? {} : { prefix: target.prefix }),
  });
  return { store: driver.deadLetterStore, close: () => driver.close() };
}

async function openKafka(target: BrokerTarget): Promise<OpenedDeadLetters> {
  const { KafkaTransportDriver } = await importAdapter(
    () => import('../adapters/kafka/index.js'),
    '@platformatic/kafka',
  );
  const driver = await KafkaTransportDriver.connect({
    brokers: target.url.split(','),
    ...(target.prefix === undefined ? {} : { prefix: target.prefix }),
  });
  return { store: driver.deadLetterStore, close: () => driver.close() };
}

async function openPulsar(target: BrokerTarget): Promise<OpenedDeadLetters> {
  const { PulsarTransportDriver } = await importAdapter(
    () => import('../adapters/pulsar/index.js'),
    'ws',
  );
  const [tenant, namespace] = (target.prefix ?? 'public/default').split('/');
  const driver = await PulsarTransportDriver.connect({
    url: target.url,
    ...(tenant === undefined ? {} : { tenant }),
    ...(namespace === undefined ? {} : { namespace }),
  });
  return { store: driver.deadLetterStore, close: () => driver.close() };
}

async function openRedis(target: BrokerTarget): Promise<OpenedDeadLetters> {
  const { RedisTransportDriver } = await importAdapter(
    () => import('../adapters/redis/index.js'),
    'redis',
  );
  const driver = await RedisTransportDriver.connect({
    url: target.url,
    ...(target.prefix === undefined ? {} : { prefix: target.prefix }),
  });
  return { store: driver.deadLetterStore, close: () => driver.close() };
}

async function openSqs(target: SqsTarget): Promise<OpenedDeadLetters> {
  const [{ SqsTransportDriver }, { ListQueuesCommand }] = await Promise.all([
    importAdapter(() => import('../adapters/sqs/index.js'), '@aws-sdk/client-sqs'),
    importAdapter(() => import('@aws-sdk/client-sqs'), '@aws-sdk/client-sqs'),
  ]);
  const driver = new SqsTransportDriver({
    clientConfig: {
      ...(target.endpoint === undefined ? {} : { endpoint: target.endpoint }),
      ...(target.region === undefined ? {} : { region: target.region }),
      // Without it a connect to a host that drops packets waits for the operating system.
      requestHandler: { connectionTimeout: SQS_CONNECT_TIMEOUT_MS },
    },
    fifo: target.fifo,
    ...(target.prefix === undefined ? {} : { prefix: target.prefix }),
  });
  // SQS has no connection to open: one cheap call shows now, not mid-command, that the
  // endpoint answers and takes the credentials.
  try {
    await driver.client.send(new ListQueuesCommand({ MaxResults: 1 }));
  } catch (error) {
    await driver.close().catch(() => undefined);
    // The SDK says so before sending anything: nothing was unreachable, a setting is missing.
    if (/region is missing/i.test((error as Error).message)) {
      throw new CliError(
        'no AWS region for SQS',
        'pass --sqs <region>, or --sqs-region <region> with an endpoint, or set AWS_REGION',
        ExitCode.UsageError,
        { cause: error },
      );
    }
    const address = target.endpoint ?? `SQS in ${target.region ?? 'the SDK’s region'}`;
    throw new StoreUnavailableError(address, { cause: error });
  }
  return { store: driver.deadLetterStore, close: () => driver.close() };
}

export interface DeadLetterFlags {
  db: string;
  /** Whether --db was given on the command line (not just its default or CAUSEWAY_DB). */
  dbGiven: boolean;
  schema?: string;
  amqp?: string;
  amqpPrefix?: string;
  nats?: string;
  natsPrefix?: string;
  kafka?: string;
  kafkaPrefix?: string;
  pulsar?: string;
  pulsarNamespace?: string;
  redis?: string;
  redisPrefix?: string;
  sqs?: string;
  sqsPrefix?: string;
  sqsRegion?: string;
  sqsFifo?: boolean;
}

/** The broker flags of `causeway dlq`: each names a broker instead of --db. */
const BROKERS = [
  {
    kind: 'rabbitmq',
    flag: '--amqp',
    prefixFlag: '--amqp-prefix',
    pick: (f: DeadLetterFlags) => [f.amqp, f.amqpPrefix] as const,
    url: /^amqps?:\/\/\S+$/i,
    expected: 'expected amqp://user:password@host:port',
    broker: 'RabbitMQ',
  },
  {
    kind: 'nats',
    flag: '--nats',
    prefixFlag: '--nats-prefix',
    pick: (f: DeadLetterFlags) => [f.nats, f.natsPrefix] as const,
    // nats.js takes a comma-separated list of servers of one cluster.
    url: /^(?:(?:nats|tls):\/\/[^,\s]+)(?:,(?:nats|tls):\/\/[^,\s]+)*$/i,
    expected: 'expected nats://host:4222 (or a comma-separated list of servers)',
    broker: 'NATS JetStream',
  },
  {
    kind: 'kafka',
    flag: '--kafka',
    prefixFlag: '--kafka-prefix',
    pick: (f: DeadLetterFlags) => [f.kafka, f.kafkaPrefix] as const,
    // Kafka's bootstrap list: host:port pairs, comma-separated, no scheme.
    url: /^[^,\s/@]+:\d+(?:,[^,\s/@]+:\d+)*$/,
    expected: 'expected host:9092 (or a comma-separated list of bootstrap brokers)',
    broker: 'Kafka',
  },
  {
    kind: 'pulsar',
    flag: '--pulsar',
    prefixFlag: '--pulsar-namespace',
    pick: (f: DeadLetterFlags) => [f.pulsar, f.pulsarNamespace] as const,
    // The web service (admin REST and WebSocket API), not the binary pulsar:// port.
    url: /^https?:\/\/[^\s/]+\/?$/i,
    expected: 'expected http://host:8080 (the broker’s web service URL)',
    broker: 'Pulsar',
  },
  {
    kind: 'redis',
    flag: '--redis',
    prefixFlag: '--redis-prefix',
    pick: (f: DeadLetterFlags) => [f.redis, f.redisPrefix] as const,
    url: /^rediss?:\/\/\S+$/i,
    expected: 'expected redis://[user:password@]host:6379[/db] (or rediss:// for TLS)',
    broker: 'Redis',
  },
  {
    kind: 'sqs',
    flag: '--sqs',
    prefixFlag: '--sqs-prefix',
    pick: (f: DeadLetterFlags) => [f.sqs, f.sqsPrefix] as const,
    // An AWS region (us-east-1, eu-central-2, us-gov-west-1…) or an endpoint URL.
    url: /^(?:[a-z]{2}(?:-[a-z]+)+-\d+|https?:\/\/\S+)$/i,
    expected: 'expected an AWS region (eu-west-1) or an endpoint URL (http://localhost:4566)',
    broker: 'SQS region or endpoint',
  },
] as const;

/** Flags that only mean something next to one broker's flag (its prefix flag included). */
const DEPENDENT_FLAGS: readonly {
  flag: string;
  needs: string;
  given: (f: DeadLetterFlags) => boolean;
}[] = [
  ...BROKERS.map((b) => ({
    flag: b.prefixFlag,
    needs: b.flag,
    given: (f: DeadLetterFlags) => b.pick(f)[1] !== undefined,
  })),
  { flag: '--sqs-region', needs: '--sqs', given: (f) => f.sqsRegion !== undefined },
  { flag: '--sqs-fifo', needs: '--sqs', given: (f) => f.sqsFifo === true },
];

const hidePassword = (url: string) => url.replace(/\/\/[^@/]*@/g, '//***@');

/** A broker flag picks that broker; otherwise `--db` picks SQLite or PostgreSQL, as for every command. */
export function parseDeadLetterTarget(flags: DeadLetterFlags): DeadLetterTarget {
  const given = BROKERS.filter((b) => b.pick(flags)[0] !== undefined);
  for (const d of DEPENDENT_FLAGS) {
    if (d.given(flags) && !given.some((b) => b.flag === d.needs)) {
      throw new CliError(
        `${d.flag} only applies with ${d.needs}`,
        `pass ${d.needs} <url>, or drop ${d.flag}`,
        ExitCode.UsageError,
      );
    }
  }
  const [broker, other] = given;
  if (broker === undefined) return parseDbTarget(flags.db, flags.schema);
  if (other !== undefined) {
    throw new CliError(
      `${broker.flag} and ${other.flag} name two different places for dead letters`,
      `pass one of ${BROKERS.map((b) => b.flag).join(', ')} or --db`,
      ExitCode.UsageError,
    );
  }
  if (flags.dbGiven || flags.schema !== undefined) {
    throw new CliError(
      `${broker.flag} and --db/--schema name two different places for dead letters`,
      `pass either ${broker.flag} <url> (${broker.broker}) or --db <sqlite-file | postgres-url>`,
      ExitCode.UsageError,
    );
  }
  const [url, prefix] = broker.pick(flags);
  if (!broker.url.test(url!)) {
    throw new CliError(
      `${broker.flag}: "${hidePassword(url!)}" is not a ${broker.broker} URL`,
      broker.expected,
      ExitCode.UsageError,
    );
  }
  if (broker.kind === 'sqs') return sqsTarget(url!, flags, prefix);
  return { kind: broker.kind, url: url!, ...(prefix === undefined ? {} : { prefix }) };
}

/** `--sqs` takes a region (AWS itself) or an endpoint; `--sqs-region` names the endpoint's region. */
function sqsTarget(place: string, flags: DeadLetterFlags, prefix: string | undefined): SqsTarget {
  const isEndpoint = /^https?:\/\//i.test(place);
  if (!isEndpoint && flags.sqsRegion !== undefined) {
    throw new CliError(
      `--sqs ${place} and --sqs-region ${flags.sqsRegion} both name the region`,
      '--sqs-region only goes with an endpoint URL: --sqs http://host:4566 --sqs-region us-east-1',
      ExitCode.UsageError,
    );
  }
  const region = isEndpoint ? flags.sqsRegion : place;
  return {
    kind: 'sqs',
    ...(isEndpoint ? { endpoint: place } : {}),
    ...(region === undefined ? {} : { region }),
    ...(prefix === undefined ? {} : { prefix }),
    fifo: flags.sqsFifo === true,
  };
}
