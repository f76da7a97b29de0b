/**
 * Distributed mode: the same flow as four processes. This one is the orders service (HTTP API,
 * command bus, projection, saga runtime, outbox relay) on PostgreSQL; inventory, payments and
 * shipping run as child processes with their own connections. Everything between them goes
 * through the broker.
 */
import { randomBytes } from 'node:crypto';
import { ValidationError } from '../core/errors.js';
import { sleep } from '../core/retry.js';
import { createTransport } from '../messaging/create-transport.js';
import { OutboxRelay } from '../messaging/outbox.js';
import {
  deadLetterCommand,
  deleteBrokerData,
  openBroker,
  openPostgresPool,
  quoteIdent,
  type BrokerKind,
  type BrokerTopology,
  type PostgresTarget,
} from './brokers.js';
import { ServiceProcess } from './children.js';
import type { FulfilmentOptions } from './fulfilment.js';
import { demoMetrics } from './metrics.js';
import { ORDER_REPLIES, startOrdersService } from './orders-service.js';
import { ORDER_EVENTS } from './order-views.js';
import { DESTINATIONS, type ServiceName } from './services.js';
import type { DemoSql } from './sql.js';
import type { DemoSystem } from './system.js';

export interface DistributedOptions extends PostgresTarget {
  broker: BrokerKind;
  fulfilment?: FulfilmentOptions;
  /** Leave the run's topics, queues or streams on the broker (to inspect its dead letters). */
  keepBrokerData?: boolean;
  /** Where `close()` reports what it kept or failed to delete. Default: stderr. */
  note?: (line: string) => void;
}

export interface DistributedSystem extends DemoSystem {
  /** The child processes, for the crash test to kill and restart. */
  readonly services: ReadonlyMap<ServiceName, ServiceProcess>;
  /** Starts the name of every topic, queue and stream of this run (`causeway-demo-<hex>`). */
  readonly brokerPrefix: string;
}

/**
 * Every destination a run uses and the groups consuming it. The poison command's `replyto` is
 * never published to: it is dead-lettered before any reply.
 */
export const DEMO_BROKER_TOPOLOGY: BrokerTopology = {
  [ORDER_EVENTS]: ['order-view', 'fulfilment'],
  [ORDER_REPLIES]: ['orders'],
  ...Object.fromEntries(Object.values(DESTINATIONS).map((d) => [d, [d]])),
};

/**
 * Thrown when the schema exists but the demo did not create it (no marker table): the demo
 * drops and recreates its schema on every run, so it never touches one that is not its own.
 */
export class ForeignSchemaError extends ValidationError {
  constructor(schema: string) {
    super(
      `Schema ${schema} exists and was not created by the demo (it has no ${DEMO_MARKER_TABLE} table); ` +
        'the demo drops and recreates its schema on every run, so it refuses this one. ' +
        'Pass a --schema that does not exist (default causeway_demo), or drop this one yourself if it is a leftover demo schema.',
      [{ path: ['schema'], message: `not a demo schema (no ${DEMO_MARKER_TABLE} table)` }],
    );
  }
}

/** How often the dead-letter count is read: the letters live in another process's broker log. */
const DEAD_LETTER_POLL_MS = 200;

export async function startDistributed(options: DistributedOptions): Promise<DistributedSystem> {
  const { pool, sql } = await openPostgresPool(options, 8);
  await resetSchema(sql, options.schema);
  const prefix = `causeway-demo-${randomBytes(4).toString('hex')}`;
  const { createPostgresEventStore, createPostgresOutboxStore, createPostgresSagaStore } =
    await import('../adapters/postgres/index.js');
  const store = await createPostgresEventStore({
    pool,
    schema: options.schema,
    outbox: {
      destination: (event) => (event.streamId.startsWith('order-') ? ORDER_EVENTS : undefined),
    },
  });
  const outbox = await createPostgresOutboxStore({ pool, schema: options.schema });
  const sagaStore = await createPostgresSagaStore({ pool, schema: options.schema });
  const driver = await openBroker(options.broker, prefix);
  const metrics = demoMetrics();
  const transport = createTransport(driver);
  const relay = new OutboxRelay({ store: outbox, driver });
  const services = new Map<ServiceName, ServiceProcess>();
  const args = [options.url, options.schema, options.broker, prefix];
  for (const name of ['inventory', 'payments', 'shipping'] as const)
    services.set(name, new ServiceProcess(name, args));
  const note = options.note ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const close = async () => {
    await Promise.all([...services.values()].map((s) => s.stop()));
    await relay.stop();
    await transport.close();
    // Each store may hold a LISTEN connection of its own: closing the pool alone leaves them.
    await Promise.all([store.close(), outbox.close(), sagaStore.close()]);
    await sql.close();
    if (options.keepBrokerData) {
      note(`demo: kept the broker's ${prefix}* topics/queues/streams; dead letters:`);
      note(`  ${deadLetterCommand(options.broker, prefix)}`);
    } else await deleteRun(options.broker, prefix, note);
  };
  try {
    await Promise.all([...services.values()].map((s) => s.start()));
    const orders = await startOrdersService({
      store,
      sagaStore,
      transport,
      sql,
      ...(options.fulfilment && { fulfilment: options.fulfilment }),
      consumer: () => metrics.consumer,
    });
    const deadLetters = driver.deadLetterStore;
    metrics.watch({ deadLetters, outbox, sagas: sagaStore, events: store, views: orders.views });
    return {
      description: `4 processes · PostgreSQL (schema ${options.schema}) · ${options.broker}`,
      orders,
      transport,
      deadLetters,
      ledgers: sql,
      services,
      brokerPrefix: prefix,
      metrics,
      serviceMetricsUrls: () =>
        Object.fromEntries([...services].map(([name, child]) => [name, child.metricsUrl ?? '-'])),
      async waitForDeadLetters(wanted, signal) {
        while ((await deadLetters.count()) < wanted) {
          await sleep(DEAD_LETTER_POLL_MS, signal);
        }
      },
      async close() {
        await orders.stop();
        await close();
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Deletes the run's broker data on a connection of its own, opened once every consumer of the
 * run is gone (Kafka keeps a group that still has members). A failure leaves a warning, not a
 * failed run: the orders all settled, and the data is only clutter.
 */
async function deleteRun(
  broker: BrokerKind,
  prefix: string,
  note: (line: string) => void,
): Promise<void> {
  try {
    const driver = await openBroker(broker, prefix);
    try {
      await deleteBrokerData(broker, driver, DEMO_BROKER_TOPOLOGY);
    } finally {
      await driver.close();
    }
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    note(`demo: warning: could not delete the run's ${prefix}* broker data: ${why}`);
  }
}

/**
 * The table the demo creates in every schema it makes. Only a schema holding it is the
 * demo's to drop: table names alone prove nothing (a real application's schema may hold
 * Causeway's `causeway_*` tables, and `public` may look empty of tables yet own functions,
 * types and sequences that `DROP SCHEMA … CASCADE` would take with it).
 */
export const DEMO_MARKER_TABLE = 'demo_marker';

/**
 * A fresh schema per run: a schema the demo made (it holds the marker table) is dropped and
 * made again, a missing one is created; any other existing schema — `public`, an
 * application's, an empty one someone created — is refused and left untouched.
 */
export async function resetSchema(sql: DemoSql, schema: string): Promise<void> {
  const exists = await sql.all('SELECT 1 FROM pg_namespace WHERE nspname = ?', [schema]);
  if (exists.length > 0) {
    const marker = await sql.all(
      'SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?',
      [schema, DEMO_MARKER_TABLE],
    );
    if (marker.length === 0) throw new ForeignSchemaError(schema);
  }
  const name = quoteIdent(schema);
  await sql.transaction(async (tx) => {
    await tx.run(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
    await tx.run(`CREATE SCHEMA ${name}`);
    await tx.run(
      `CREATE TABLE ${name}.${DEMO_MARKER_TABLE} (created_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    await tx.run(`INSERT INTO ${name}.${DEMO_MARKER_TABLE} DEFAULT VALUES`);
  });
}
