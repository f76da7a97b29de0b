import { randomUUID } from 'node:crypto';
import type { PoolClient, QueryResultRow } from 'pg';
import { StoreClosedError } from '../../core/errors.js';
import { encodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { Message } from '../../messaging/message.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  TransportDriver,
} from '../../messaging/transport.js';
import {
  HEADER_PREFIX,
  parseFailure,
  QueueHub,
  type ClaimedRow,
  type Lease,
  type QueueStore,
  type SqlDeadLetter,
} from '../sql/queue-consumer.js';
import {
  openConnection,
  runQuery,
  toStoreError,
  withTransaction,
  type PostgresConnection,
  type PostgresConnectionOptions,
} from './postgres-connection.js';
import { schemaIdentity, type SchemaIdentity } from './postgres-identity.js';
import { Announcer, NotificationListener } from './postgres-listener.js';
import { PostgresDeadLetterStore } from './postgres-dead-letters.js';
import { assertPostgresSchema, migratePostgresSchema } from './postgres-schema.js';
import {
  LISTEN_LOCK_CLASS,
  queueLock,
  transportStatements,
  type ClaimRecord,
  type DeadLetterRecord,
  type PublishRecord,
} from './postgres-transport-sql.js';

/** The shortest time between two wake-up NOTIFYs of one transport (see `Announcer`). */
const ANNOUNCE_GAP_MS = 5;

export interface PostgresTransportOptions extends PostgresConnectionOptions {
  /** Create or upgrade the schema on start. Default true; turn off when a deploy step does it. */
  migrate?: boolean;
  /** The fallback poll when no NOTIFY arrives (a lost wake-up, a retry coming due). Default 1 s. */
  pollIntervalMs?: number;
  /** How long a claimed message stays with a consumer that stopped renewing it. Default 30 s. */
  leaseMs?: number;
}

/** Opens the transport, creating or checking the schema first. */
export async function createPostgresTransportDriver(
  options: PostgresTransportOptions = {},
): Promise<PostgresTransportDriver> {
  const driver = new PostgresTransportDriver(options);
  try {
    await (options.migrate === false ? driver.checkSchema() : driver.migrate());
  } catch (error) {
    await driver.close();
    throw error;
  }
  return driver;
}

/**
 * A durable queue in PostgreSQL tables. A publish is one statement, a transaction of its own
 * (its commit is the confirmation); consumers claim rows with `FOR UPDATE SKIP LOCKED` under a lease, so a
 * crashed consumer's messages come back; retries wait in the table (`available_at`).
 * Consumers are woken by this process's own work directly, by other processes through
 * LISTEN/NOTIFY, and by a fallback poll for anything a lost notification hid.
 */
export class PostgresTransportDriver implements TransportDriver {
  readonly kind = 'postgres';
  readonly address: string;
  readonly identity: SchemaIdentity;
  readonly #connection: PostgresConnection;
  readonly #sql: ReturnType<typeof transportStatements>;
  readonly #hub: QueueHub;
  /** The operator's access to this transport's dead letters (list, retry, purge). */
  readonly deadLetterStore: PostgresDeadLetterStore;
  readonly #listener: NotificationListener;
  readonly #channel: string;
  /** Sent as the NOTIFY payload so our own LISTEN connection skips what we announced. */
  readonly #instance = randomUUID();
  /**
   * Wakes other processes' consumers after a commit. Sent after the transaction rather than
   * inside it, because notifying transactions serialize their commits; coalesced (see
   * `Announcer`); skipped after a publish no other session listens for (migration 13).
   * A lost NOTIFY costs one poll.
   */
  readonly #announcer: Announcer;
  #unlisten: (() => void) | undefined;
  #closed = false;

  constructor(options: Omit<PostgresTransportOptions, 'migrate'> = {}) {
    this.identity = schemaIdentity(options.schema);
    this.#connection = openConnection(options);
    this.address = this.#connection.address;
    this.#sql = transportStatements(this.identity);
    // Its own channel: publishes must not wake the event store's subscriptions, nor appends ours.
    this.#channel = `${this.identity.statementPrefix}messages`;
    this.#listener = new NotificationListener(
      this.#connection.clientConfig,
      this.#channel,
      this.#instance,
    );
    this.#announcer = new Announcer(async () => {
      await runQuery(this.#connection.pool, {
        name: `${this.identity.statementPrefix}notify_messages`,
        text: `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`,
        values: [this.#channel, this.#instance],
      });
    }, ANNOUNCE_GAP_MS);
    this.#hub = new QueueHub(this.#store(), {
      pollIntervalMs: options.pollIntervalMs ?? 1_000,
      leaseMs: options.leaseMs ?? 30_000,
    });
    this.deadLetterStore = new PostgresDeadLetterStore(this.#connection.pool, {
      schema: this.identity.schema,
      address: this.address,
      onRetried: (destination) => {
        this.#hub.wakeDestination(destination);
        this.#announcer.announce();
      },
    });
  }

  async migrate(): Promise<void> {
    await this.#run(() => migratePostgresSchema(this.#connection.pool, this.identity.schema));
  }

  async checkSchema(): Promise<void> {
    await this.#run(() => assertPostgresSchema(this.#connection.pool, this.identity.schema));
  }

  async publish(destination: string, messages: readonly Message[]): Promise<void> {
    await this.publishRaw(
      destination,
      messages.map((m) => encodeBinary(m, HEADER_PREFIX)),
    );
  }

  /** Publishes already-encoded messages, e.g. to test what consumers do with poison. */
  async publishRaw(destination: string, wires: readonly WireMessage[]): Promise<void> {
    const lockKey = this.#lockKey(destination);
    const fields = (wire: WireMessage) => ({
      id: wire.headers[`${HEADER_PREFIX}id`] ?? null,
      headers: wire.headers,
      body: wire.body,
      key: wire.headers[`${HEADER_PREFIX}partitionkey`] ?? null,
    });
    // One autocommit statement: its commit is the confirmation (see `causeway_publish_one`).
    const [single] = wires.length === 1 ? wires.map(fields) : [];
    const { rows } = single
      ? await this.#query<PublishRecord>('publish_one', this.#sql.publishOne, [
          destination,
          single.id,
          JSON.stringify(single.headers),
          single.body,
          single.key,
          lockKey,
        ])
      : await this.#query<PublishRecord>('publish_batch', this.#sql.publish, [
          destination,
          JSON.stringify(wires.map(fields)),
          lockKey,
        ]);
    this.#hub.wakeDestination(destination);
    // Another process consuming `destination` holds its listen lock; otherwise no one to wake.
    if (rows[0]?.listened !== false) this.#announcer.announce();
  }

  /**
   * Wakes `destination`'s consumers, here and in other processes, after a commit that wrote to
   * it outside `publish` (an outbox relayed inside the database, `PostgresOutboxStore.relayInto`).
   */
  announce(destination: string): void {
    this.#hub.wakeDestination(destination);
    this.#announcer.announce();
  }

  async consume(
    destination: string,
    group: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle> {
    if (this.#closed) throw new StoreClosedError();
    this.#unlisten ??= this.#listener.add(() => this.#hub.wakeAll());
    // Tells publishers in other processes to NOTIFY for `destination` while we consume it.
    const release = this.#listener.hold(LISTEN_LOCK_CLASS, this.#lockKey(destination));
    let handle: ConsumerHandle;
    try {
      handle = await this.#hub.consume(
        destination,
        group,
        randomUUID(),
        options.prefetch,
        onDelivery,
      );
    } catch (error) {
      release();
      throw error;
    }
    return {
      stop: async () => {
        try {
          await handle.stop();
        } finally {
          release();
        }
      },
    };
  }

  /** Dead letters, oldest first; all destinations unless one is named. */
  async deadLetters(destination?: string): Promise<SqlDeadLetter[]> {
    const { rows } = await this.#query<DeadLetterRecord>('dead_letters', this.#sql.deadLetters, [
      destination ?? null,
    ]);
    return rows.map((row) => ({
      id: Number(row.id),
      destination: row.destination,
      group: row.group_name,
      message: { headers: row.headers, body: row.body },
      failure: parseFailure(row.failure),
      createdAt: row.created_at,
    }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.deadLetterStore.close();
    this.#hub.close();
    this.#unlisten?.();
    await this.#listener.close();
    await this.#announcer.close();
    if (this.#connection.ownsPool) await this.#connection.pool.end();
  }

  #store(): QueueStore {
    const sql = this.#sql;
    const held = (lease: Lease, position: number) => [
      lease.destination,
      lease.group,
      position,
      lease.consumerId,
    ];
    return {
      join: async (destination, group) => {
        const known = await this.#query('group_exists', sql.groupExists, [destination, group]);
        if (known.rowCount) return;
        await this.#transaction(
          (client) => client.query(sql.join, [destination, group]),
          queueLock('exclusive', this.#lockKey(destination)),
        );
      },
      claim: async (lease, limit, leaseMs) => {
        const { rows } = await this.#query<ClaimRecord>('claim', sql.claim, [
          lease.destination,
          lease.group,
          lease.consumerId,
          limit,
          leaseMs,
          this.#lockKey(lease.destination, lease.group),
        ]);
        return rows.map(toClaimed);
      },
      extend: async (lease, positions, leaseMs) => {
        await this.#query('extend', sql.extend, [
          lease.destination,
          lease.group,
          lease.consumerId,
          positions,
          leaseMs,
        ]);
      },
      ack: async (lease, position) => {
        await this.#query('ack', sql.ack, held(lease, position));
      },
      release: async (lease, position) => {
        await this.#query('release', sql.release, held(lease, position));
      },
      retry: async (lease, position, delayMs, firstFailureAt) => {
        await this.#query('retry', sql.retry, [...held(lease, position), delayMs, firstFailureAt]);
      },
      deadLetter: async (lease, row, failure) => {
        await this.#query('dead_letter', sql.deadLetter, [
          ...held(lease, row.position),
          row.headers[`${HEADER_PREFIX}id`] ?? null,
          JSON.stringify(row.headers),
          row.body,
          JSON.stringify(failure),
        ]);
      },
    };
  }

  /**
   * The transport's advisory lock keys: one per destination (publish vs. a group's creation)
   * and one per group (claims), both inside the schema.
   */
  #lockKey(destination: string, group?: string): string {
    // A space never occurs in schema, destination or group names, so keys cannot collide.
    return group === undefined
      ? `${this.identity.schema} ${destination}`
      : `${this.identity.schema} ${destination} ${group}`;
  }

  async #query<R extends QueryResultRow>(name: string, text: string, values: unknown[]) {
    return this.#run(() =>
      runQuery<R>(this.#connection.pool, {
        name: `${this.identity.statementPrefix}transport_${name}`,
        text,
        values,
      }),
    );
  }

  #transaction<T>(work: (client: PoolClient) => Promise<T>, opening?: string): Promise<T> {
    return this.#run(() => withTransaction(this.#connection.pool, work, opening));
  }

  async #run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError();
    try {
      return await work();
    } catch (error) {
      throw toStoreError(error, this.address);
    }
  }
}

function toClaimed(row: ClaimRecord): ClaimedRow {
  return {
    position: Number(row.position),
    attempt: row.attempt,
    firstFailureAt: row.first_failure_at ?? undefined,
    headers: row.headers,
    body: row.body,
  };
}
