/**
 * The broker and the PostgreSQL connection of distributed mode, opened the same way in the
 * orders process and in each service process. Adapters and drivers load on demand: they are
 * optional peers, and single-process mode needs none of them.
 */
import type { Pool } from 'pg';
import type { RabbitMqTransportDriver } from '../adapters/rabbitmq/index.js';
import type { DeadLetterStore } from '../messaging/dead-letters.js';
import type { TransportDriver } from '../messaging/transport.js';
import { postgresSql, type DemoSql, type PgPoolLike } from './sql.js';

export type BrokerKind = 'kafka' | 'rabbitmq' | 'nats';

export const BROKERS: readonly BrokerKind[] = ['kafka', 'rabbitmq', 'nats'];

export type BrokerDriver = TransportDriver & { readonly deadLetterStore: DeadLetterStore };

/**
 * Connects to the broker named by `kind` at the address in the usual environment variable
 * (`CAUSEWAY_KAFKA_BROKERS`, `CAUSEWAY_AMQP_URL`, `CAUSEWAY_NATS_URL`) or its local default.
 * `prefix` names every topic, queue and stream of one demo run, so runs never share one.
 */
export async function openBroker(kind: BrokerKind, prefix: string): Promise<BrokerDriver> {
  const address = brokerAddress(kind);
  switch (kind) {
    case 'kafka': {
      const { KafkaTransportDriver } = await import('../adapters/kafka/index.js');
      return KafkaTransportDriver.connect({
        brokers: address.split(','),
        prefix,
        partitions: 16,
        // A killed service's partitions move to its restarted self after this long, not 30 s.
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 1_000,
        rebalanceTimeoutMs: 10_000,
        maxWaitMs: 200,
      });
    }
    case 'rabbitmq': {
      const { RabbitMqTransportDriver } = await import('../adapters/rabbitmq/index.js');
      return RabbitMqTransportDriver.connect({ url: address, prefix });
    }
    case 'nats': {
      const { NatsTransportDriver } = await import('../adapters/nats/index.js');
      return NatsTransportDriver.connect({
        servers: address,
        prefix,
        // A killed service's unacknowledged commands come back after this long.
        ackWaitMs: 5_000,
        pullExpiresMs: 1_000,
      });
    }
  }
}

const ADDRESS: Record<BrokerKind, { variable: string; local: string; flag: string }> = {
  kafka: { variable: 'CAUSEWAY_KAFKA_BROKERS', local: '127.0.0.1:9092', flag: 'kafka' },
  rabbitmq: {
    variable: 'CAUSEWAY_AMQP_URL',
    local: 'amqp://guest:guest@127.0.0.1:5672',
    flag: 'amqp',
  },
  nats: { variable: 'CAUSEWAY_NATS_URL', local: 'nats://127.0.0.1:4222', flag: 'nats' },
};

/** The broker's address: its environment variable, else the local default. */
export function brokerAddress(kind: BrokerKind): string {
  return process.env[ADDRESS[kind].variable] ?? ADDRESS[kind].local;
}

/**
 * The `causeway dlq list` command that reads one run's dead letters on the broker. A
 * configured address is named by its variable: it may hold a password not to print.
 */
export function deadLetterCommand(kind: BrokerKind, prefix: string): string {
  const { variable, local, flag } = ADDRESS[kind];
  const address = process.env[variable] === undefined ? local : `"$${variable}"`;
  return `causeway dlq list --${flag} ${address} --${flag}-prefix ${prefix}`;
}

/** Every destination of a run and the groups consuming it (RabbitMQ cannot list those). */
export type BrokerTopology = Readonly<Record<string, readonly string[]>>;

/**
 * Deletes what one run left on the broker: each destination's topics, queues or streams with
 * their retries and dead letters, then (RabbitMQ) the prefix's shared dead-letter queue. The
 * driver must be one of `prefix` whose consumers are all gone: Kafka refuses to delete a
 * consumer group that still has members.
 */
export async function deleteBrokerData(
  kind: BrokerKind,
  driver: BrokerDriver,
  topology: BrokerTopology,
): Promise<void> {
  if (kind === 'rabbitmq') {
    const rabbit = driver as unknown as RabbitMqTransportDriver;
    for (const [destination, groups] of Object.entries(topology))
      await rabbit.deleteDestination(destination, groups);
    await rabbit.deleteDeadLetterQueue();
    return;
  }
  const deleting = driver as unknown as { deleteDestination(destination: string): Promise<void> };
  for (const destination of Object.keys(topology)) await deleting.deleteDestination(destination);
}

export interface PostgresTarget {
  url: string;
  /** Holds Causeway's tables and the services' own (`demo_*`). */
  schema: string;
}

/**
 * A pool whose connections look in the demo's schema first, so the services' unqualified
 * `demo_*` tables land there too; Causeway's stores get the schema explicitly.
 */
export async function openPostgresPool(
  target: PostgresTarget,
  max = 6,
): Promise<{ pool: Pool; sql: DemoSql }> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    connectionString: target.url,
    max,
    options: `-c search_path=${quoteIdent(target.schema)}`,
  });
  // An idle client's error (server restart) must not crash the process; queries report it.
  pool.on('error', () => undefined);
  return { pool, sql: postgresSql(pool as unknown as PgPoolLike) };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
