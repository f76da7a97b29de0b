import type { InboxStore } from '../../messaging/inbox.js';
import { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
import { PostgresTransaction } from './postgres-transaction.js';

export type PostgresInboxStoreOptions = PostgresStoreOptions;

/** Opens an inbox store, creating or checking the schema first. */
export async function createPostgresInboxStore(
  options: PostgresInboxStoreOptions = {},
): Promise<PostgresInboxStore> {
  return openPostgresStore(new PostgresInboxStore(options), options);
}

/**
 * The inbox in PostgreSQL: `process` inserts `(group, messageId)` and runs the handler's work
 * on the same connection inside one transaction, handing it a `PostgresTransaction` (write
 * through `transaction.client`, a read-model session or the outbox). A redelivery finds the
 * row and the work does not run; work that throws rolls back the row with the effects.
 *
 * Concurrent deliveries of one message: a check-then-insert would let both see "not yet"
 * and both run. Here the insert comes first, and the primary key makes the second insert
 * wait for the first transaction: if it commits, the second gets a conflict (`duplicate`);
 * if it rolls back, the second insert goes through and the work runs there, once.
 */
export class PostgresInboxStore extends PostgresStore implements InboxStore<PostgresTransaction> {
  readonly #table = `${this.identity.quoted}.causeway_inbox`;

  async process(
    group: string,
    messageId: string,
    work: (transaction: PostgresTransaction) => Promise<void>,
  ): Promise<'processed' | 'duplicate'> {
    return this.transaction(async (client) => {
      const recorded = await client.query({
        name: `${this.identity.statementPrefix}inbox_record`,
        text: `INSERT INTO ${this.#table} (group_name, message_id) VALUES ($1, $2)
               ON CONFLICT DO NOTHING`,
        values: [group, messageId],
      });
      if (recorded.rowCount === 0) return 'duplicate';
      const transaction = new PostgresTransaction(client, this.identity.schema);
      try {
        await work(transaction);
      } finally {
        transaction.end();
      }
      return 'processed';
    });
  }

  async cleanup(olderThan: Date): Promise<number> {
    const result = await this.query(
      'inbox_cleanup',
      `DELETE FROM ${this.#table} WHERE processed_at < $1`,
      [olderThan],
    );
    return result.rowCount ?? 0;
  }
}
