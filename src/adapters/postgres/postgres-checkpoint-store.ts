import type { Pool } from 'pg';
import type { CheckpointStore } from '../../event-store/checkpoint-store.js';
import { runQuery, toStoreError } from './postgres-connection.js';
import type { SchemaIdentity } from './postgres-identity.js';

/** Subscription checkpoints in the event store's schema, one row per subscription name. */
export class PostgresCheckpointStore implements CheckpointStore {
  readonly #pool: Pool;
  readonly #identity: SchemaIdentity;
  readonly #address: string;

  constructor(pool: Pool, identity: SchemaIdentity, address: string) {
    this.#pool = pool;
    this.#identity = identity;
    this.#address = address;
  }

  async load(name: string): Promise<number | undefined> {
    const { rows } = await this.#query<{ position: string }>(
      'checkpoint_load',
      `SELECT position FROM ${this.#identity.quoted}.causeway_checkpoints WHERE name = $1`,
      [name],
    );
    return rows[0] === undefined ? undefined : Number(rows[0].position);
  }

  async store(name: string, position: number): Promise<void> {
    await this.#query(
      'checkpoint_store',
      `INSERT INTO ${this.#identity.quoted}.causeway_checkpoints (name, position, updated_at)
       VALUES ($1, $2, now())
       ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()`,
      [name, position],
    );
  }

  async delete(name: string): Promise<void> {
    await this.#query(
      'checkpoint_delete',
      `DELETE FROM ${this.#identity.quoted}.causeway_checkpoints WHERE name = $1`,
      [name],
    );
  }

  async #query<R extends { [column: string]: unknown }>(
    name: string,
    text: string,
    values: unknown[],
  ) {
    try {
      return await runQuery<R>(this.#pool, {
        name: this.#identity.statementPrefix + name,
        text,
        values,
      });
    } catch (error) {
      throw toStoreError(error, this.#address);
    }
  }
}
