import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientConfig, Pool } from 'pg';
import { runQuery } from './postgres-connection.js';
import type { SchemaIdentity } from './postgres-identity.js';
import { NotificationListener } from './postgres-listener.js';
import { outboxChannel } from './postgres-messaging-sql.js';

/** The most often other processes are woken by NOTIFY (ours are woken directly). */
const ANNOUNCE_INTERVAL_MS = 10;

/**
 * How the PostgreSQL event store's subscribers learn of appends, kept apart from the store's
 * reads and writes: one LISTEN connection hears other processes' commits, and each commit of
 * ours wakes our own subscribers directly and the other processes' through a rate-limited NOTIFY.
 */
export class PostgresEventNotifier {
  readonly #pool: Pool;
  readonly #identity: SchemaIdentity;
  /** Also wake the outbox relays, on their own channel. */
  readonly #outbox: boolean;
  /** The LISTEN connection, for tests of reconnection. */
  readonly listener: NotificationListener;
  /** Sent as the NOTIFY payload so our own LISTEN connection can skip what we announced. */
  readonly #instance = randomUUID();
  #announcing: Promise<void> | undefined;
  #announceAgain = false;
  #closed = false;

  constructor(pool: Pool, clientConfig: ClientConfig, identity: SchemaIdentity, outbox: boolean) {
    this.#pool = pool;
    this.#identity = identity;
    this.#outbox = outbox;
    this.listener = new NotificationListener(clientConfig, identity.channel, this.#instance);
  }

  /**
   * Wakes subscribers after a commit: ours directly, other processes' through a NOTIFY.
   * The NOTIFY is sent after the append rather than inside it because PostgreSQL serializes
   * the commits of notifying transactions behind one lock held across the WAL flush, which
   * undoes group commit for concurrent writers (measured: 8 writers fell to ~0.2x raw).
   * NOTIFYs are also rate-limited, one per `ANNOUNCE_INTERVAL_MS` at most, with the appends
   * in between coalesced into the next one: a NOTIFY per append cost a quarter of the
   * throughput. They commit asynchronously: a lost wake-up only costs a poll interval.
   */
  announce(): void {
    this.listener.notify();
    if (this.#announcing) {
      this.#announceAgain = true;
      return;
    }
    const identity = this.#identity;
    this.#announcing = (async () => {
      do {
        this.#announceAgain = false;
        const started = Date.now();
        // With the outbox option, relays hear about the same commits on their own channel.
        await runQuery(
          this.#pool,
          this.#outbox
            ? {
                name: `${identity.statementPrefix}notify_outbox`,
                text: `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2),
                              pg_notify($3, '')`,
                values: [identity.channel, this.#instance, outboxChannel(identity)],
              }
            : {
                name: `${identity.statementPrefix}notify`,
                text: `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`,
                values: [identity.channel, this.#instance],
              },
        ).catch(() => undefined);
        // Always cool down: appends arriving meanwhile are announced together afterwards.
        const wait = ANNOUNCE_INTERVAL_MS - (Date.now() - started);
        if (wait > 0 && !this.#closed) await sleep(wait, undefined, { ref: false });
      } while (this.#announceAgain && !this.#closed);
      this.#announcing = undefined;
    })();
  }

  /** Calls `listener` after every append announced, ours or another process's. */
  add(listener: () => void): () => void {
    return this.listener.add(listener);
  }

  /** Lets the announcement under way finish, then closes the LISTEN connection. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#announcing;
    await this.listener.close();
  }
}
