import { randomUUID } from 'node:crypto';
import type { ClientBase } from 'pg';
import { ValidationError } from '../../core/errors.js';
import { decodeBinary, encodeBinary } from '../../messaging/binary-codec.js';
import type { Message } from '../../messaging/message.js';
import type { OutboxBacklog, OutboxRecord, OutboxStore } from '../../messaging/outbox.js';
import type { TransportDriver } from '../../messaging/transport.js';
import { HEADER_PREFIX } from '../sql/queue-consumer.js';
import { NotificationListener } from './postgres-listener.js';
import { outboxChannel, outboxStatements, type OutboxRow } from './postgres-messaging-sql.js';
import { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
import { isPostgresTransaction, type PostgresTransaction } from './postgres-transaction.js';
import type { SchemaIdentity } from './postgres-identity.js';
import { PostgresTransportDriver } from './postgres-transport.js';

/**
 * The lease `relayInto`'s claim takes. Claim and mark-sent commit together, so no other relay
 * ever sees it; it only has to outlast the statement.
 */
const RELAY_LEASE_MS = 60_000;

export interface PostgresOutboxStoreOptions extends PostgresStoreOptions {
  /**
   * Whether `write` queues a NOTIFY in your transaction so relays wake on its commit. Default
   * true. PostgreSQL commits notifying transactions one at a time (a lock held across the WAL
   * flush), so at high write concurrency turn it off and let relays poll (`pollIntervalMs`).
   */
  notifyOnWrite?: boolean;
}

/** Opens an outbox store, creating or checking the schema first. */
export async function createPostgresOutboxStore(
  options: PostgresOutboxStoreOptions = {},
): Promise<PostgresOutboxStore> {
  return openPostgresStore(new PostgresOutboxStore(options), options);
}

/**
 * A transactional outbox in PostgreSQL. `write` adds messages through the caller's own
 * transaction — a `PostgresTransaction` handle (the event store's hook, the inbox) or any
 * client between your `BEGIN` and `COMMIT` — so they commit or vanish with the change they
 * announce. The same statement queues a NOTIFY, which PostgreSQL delivers only on commit:
 * relays (`onWrite`) wake for committed writes only, in every process.
 *
 * Several relays may run at once. A claim locks the head of each key it takes with
 * `FOR UPDATE SKIP LOCKED` (see `outboxStatements`), so relays never take the same record
 * while its lease lives and a key's records are published by one relay at a time, in order.
 */
export class PostgresOutboxStore extends PostgresStore implements OutboxStore {
  readonly #sql;
  readonly #channel: string;
  readonly #listener: NotificationListener;
  readonly #notify: boolean;

  constructor(options: Omit<PostgresOutboxStoreOptions, 'migrate'> = {}) {
    super(options);
    this.#notify = options.notifyOnWrite ?? true;
    this.#sql = outboxStatements(this.identity);
    this.#channel = outboxChannel(this.identity);
    // Every announcement comes through the channel (own process included: only the commit
    // knows), so no payload is ever "ours".
    this.#listener = new NotificationListener(
      this.connection.clientConfig,
      this.#channel,
      randomUUID(),
    );
  }

  /**
   * Adds `messages` for `destination` in the transaction `transaction` runs: a
   * `PostgresTransaction`, or a client on which you issued `BEGIN`. Invisible to relays until
   * that transaction commits; gone if it rolls back.
   */
  async write(
    transaction: PostgresTransaction | ClientBase,
    destination: string,
    messages: readonly Message[],
  ): Promise<void> {
    await this.run(() =>
      writeOutbox(transaction, this.identity, messages, destination, this.#notify),
    );
  }

  /** One round trip: `causeway_outbox_claim` (migration 9) runs the claim's three steps. */
  async claim(owner: string, limit: number, leaseMs: number): Promise<OutboxRecord[]> {
    const { rows } = await this.query<OutboxRow>('outbox_claim', this.#sql.claim, [
      owner,
      limit,
      leaseMs,
    ]);
    return rows.map(toRecord).sort((a, b) => a.sequence - b.sequence);
  }

  /**
   * Relays straight into a `PostgresTransportDriver` on this database and schema: claim, copy
   * the records into its queue in their wire form (no decode, no encode) and mark them sent,
   * one statement and one transaction, so nothing is published twice. `undefined` for any other
   * driver (the relay then claims, publishes and marks sent itself).
   */
  async relayInto(
    driver: TransportDriver,
    owner: string,
    limit: number,
  ): Promise<number | undefined> {
    if (
      !(driver instanceof PostgresTransportDriver) ||
      driver.address !== this.address ||
      driver.identity.schema !== this.identity.schema
    )
      return undefined;
    const { rows } = await this.query<{ destination: string; relayed: number }>(
      'outbox_relay',
      this.#sql.relay,
      [owner, limit, RELAY_LEASE_MS],
    );
    let relayed = 0;
    for (const row of rows) {
      driver.announce(row.destination);
      relayed += row.relayed;
    }
    return relayed;
  }

  async markSent(owner: string, sequences: readonly number[]): Promise<void> {
    await this.query('outbox_sent', this.#sql.markSent, [owner, sequences]);
  }

  async release(owner: string, sequences: readonly number[], delayMs: number): Promise<void> {
    await this.query('outbox_release', this.#sql.release, [owner, sequences, delayMs]);
  }

  async cleanup(olderThan: Date): Promise<number> {
    const result = await this.query('outbox_cleanup', this.#sql.cleanup, [olderThan]);
    return result.rowCount ?? 0;
  }

  /** How many records wait to be published (for operators and tests). */
  async pending(): Promise<number> {
    const { rows } = await this.query<{ n: number }>('outbox_pending', this.#sql.pending, []);
    return rows[0]?.n ?? 0;
  }

  async backlog(): Promise<OutboxBacklog[]> {
    const { rows } = await this.query<{ destination: string; pending: number; oldest: Date }>(
      'outbox_backlog',
      this.#sql.backlog,
      [],
    );
    return rows.map((row) => ({
      destination: row.destination,
      pending: row.pending,
      oldestCreatedAt: row.oldest,
    }));
  }

  /** Calls `listener` after each commit that wrote to this outbox, from any process (LISTEN). */
  onWrite(listener: () => void): () => void {
    return this.#listener.add(listener);
  }

  /** Resolves once the LISTEN connection is up (after the first `onWrite`); for tests. */
  async listening(): Promise<void> {
    await this.#listener.ready();
  }

  protected override async onClose(): Promise<void> {
    await this.#listener.close();
  }
}

/**
 * Adds outbox messages through `transaction` (see `PostgresOutboxStore.write`). With
 * `notify` the NOTIFY rides in the transaction; without, the writer announces after commit
 * (the event store does: notifying transactions serialize their commits).
 */
export async function writeOutbox(
  transaction: PostgresTransaction | ClientBase,
  identity: SchemaIdentity,
  messages: readonly Message[],
  destination: string,
  notify: boolean,
): Promise<void> {
  if (messages.length === 0) return;
  let client: ClientBase;
  if (isPostgresTransaction(transaction)) {
    if (!transaction.open) {
      throw new ValidationError('Transaction ended', [
        { path: ['transaction'], message: 'write to the outbox before the transaction ends' },
      ]);
    }
    client = transaction.client;
  } else {
    client = transaction;
  }
  const batch = messages.map((message) => {
    const wire = encodeBinary(message, HEADER_PREFIX);
    return { id: message.id, key: message.partitionkey ?? null, ...wire };
  });
  const sql = outboxStatements(identity);
  await client.query(
    notify
      ? {
          name: `${identity.statementPrefix}outbox_write`,
          text: sql.write,
          values: [destination, JSON.stringify(batch), outboxChannel(identity)],
        }
      : {
          name: `${identity.statementPrefix}outbox_insert`,
          text: sql.insert,
          values: [destination, JSON.stringify(batch)],
        },
  );
}

function toRecord(row: OutboxRow): OutboxRecord {
  return {
    sequence: Number(row.sequence),
    destination: row.destination,
    message: decodeBinary({ headers: row.headers, body: row.body }, HEADER_PREFIX),
  };
}
