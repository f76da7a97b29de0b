import type { Pool } from 'pg';
import { deserializeJson, serializeJson } from '../../core/serializer.js';
import type { Snapshot, SnapshotStore } from '../../event-store/snapshot-store.js';
import {
  openConnection,
  runQuery,
  toStoreError,
  type PostgresConnection,
  type PostgresConnectionOptions,
} from './postgres-connection.js';
import { schemaIdentity, type SchemaIdentity } from './postgres-identity.js';

type SnapshotRecord = {
  version: string;
  state_version: number;
  state: string;
  created_at: Date;
};

/**
 * The newest snapshot per stream, in the event store's schema (run the event store's
 * migration first, or create the event store before this). State is stored as JSON, so it
 * must be JSON-serializable: a `Date` inside the state comes back as a string.
 */
export class PostgresSnapshotStore implements SnapshotStore {
  readonly #connection: PostgresConnection;
  readonly #identity: SchemaIdentity;

  constructor(options: PostgresConnectionOptions = {}) {
    this.#identity = schemaIdentity(options.schema);
    this.#connection = openConnection(options);
  }

  get pool(): Pool {
    return this.#connection.pool;
  }

  async load<S = unknown>(
    streamId: string,
    options: { stateVersion?: number } = {},
  ): Promise<Snapshot<S> | undefined> {
    const { rows } = await this.#query<SnapshotRecord>(
      'snapshot_load',
      `SELECT version, state_version, state::text AS state, created_at
         FROM ${this.#identity.quoted}.causeway_snapshots WHERE stream_id = $1`,
      [streamId],
    );
    const row = rows[0];
    if (!row) return undefined;
    if (options.stateVersion !== undefined && row.state_version !== options.stateVersion) {
      return undefined;
    }
    return {
      streamId,
      version: Number(row.version),
      state: deserializeJson(row.state, `snapshot state of stream ${streamId}`) as S,
      stateVersion: row.state_version,
      createdAt: row.created_at,
    };
  }

  async save<S>(snapshot: Snapshot<S>): Promise<void> {
    const state = serializeJson(snapshot.state, `snapshot state of stream ${snapshot.streamId}`);
    // The WHERE makes a late save of an older snapshot a no-op, atomically, so racing
    // writers cannot replace a newer snapshot with an older one.
    await this.#query(
      'snapshot_save',
      `INSERT INTO ${this.#identity.quoted}.causeway_snapshots
         (stream_id, version, state_version, state, created_at)
       VALUES ($1, $2, $3, $4::json, $5)
       ON CONFLICT (stream_id) DO UPDATE SET
         version = EXCLUDED.version, state_version = EXCLUDED.state_version,
         state = EXCLUDED.state, created_at = EXCLUDED.created_at
       WHERE EXCLUDED.version >= causeway_snapshots.version`,
      [snapshot.streamId, snapshot.version, snapshot.stateVersion, state, snapshot.createdAt],
    );
  }

  async delete(streamId: string): Promise<void> {
    await this.#query(
      'snapshot_delete',
      `DELETE FROM ${this.#identity.quoted}.causeway_snapshots WHERE stream_id = $1`,
      [streamId],
    );
  }

  /** Ends the pool if this store opened it. */
  async close(): Promise<void> {
    if (this.#connection.ownsPool) await this.#connection.pool.end();
  }

  async #query<R extends { [column: string]: unknown }>(
    name: string,
    text: string,
    values: unknown[],
  ) {
    try {
      return await runQuery<R>(this.#connection.pool, {
        name: this.#identity.statementPrefix + name,
        text,
        values,
      });
    } catch (error) {
      throw toStoreError(error, this.#connection.address);
    }
  }
}
