import type { Statement } from 'better-sqlite3';
import { StoreClosedError } from '../../core/errors.js';
import { deserializeJson, serializeJson } from '../../core/serializer.js';
import type { Snapshot, SnapshotStore } from '../../event-store/snapshot-store.js';
import { addressOf, ensureSchema, toStoreError, type SqliteDatabase } from './sqlite-schema.js';
import { gateFor, type SqliteFileGate } from './sqlite-transaction.js';

interface SnapshotRow {
  version: number;
  stateVersion: number;
  state: string;
  createdAt: number;
}

/**
 * The newest snapshot per stream, in the event store's file. State is stored as JSON, so it
 * must be JSON-serializable (a `Date` in the state comes back as a string).
 */
export class SqliteSnapshotStore implements SnapshotStore {
  readonly #db: SqliteDatabase;
  readonly #gate: SqliteFileGate;
  readonly #load: Statement<[string], SnapshotRow>;
  readonly #save: Statement<[string, number, number, string, number]>;
  readonly #delete: Statement<[string]>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#gate = gateFor(db);
    ensureSchema(db);
    this.#load = db.prepare(
      `SELECT version, state_version AS stateVersion, state, created_at AS createdAt
       FROM causeway_snapshots WHERE stream_id = ?`,
    );
    // The WHERE turns a late save of an older snapshot into a no-op, atomically, so two
    // writers racing cannot replace a newer snapshot with an older one.
    this.#save = db.prepare(
      `INSERT INTO causeway_snapshots (stream_id, version, state_version, state, created_at)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (stream_id) DO UPDATE SET
         version = excluded.version, state_version = excluded.state_version,
         state = excluded.state, created_at = excluded.created_at
       WHERE excluded.version >= causeway_snapshots.version`,
    );
    this.#delete = db.prepare('DELETE FROM causeway_snapshots WHERE stream_id = ?');
  }

  async load<S = unknown>(
    streamId: string,
    options: { stateVersion?: number } = {},
  ): Promise<Snapshot<S> | undefined> {
    const row = await this.#run('read', () => this.#load.get(streamId));
    if (!row) return undefined;
    if (options.stateVersion !== undefined && row.stateVersion !== options.stateVersion) {
      return undefined;
    }
    return {
      streamId,
      version: row.version,
      stateVersion: row.stateVersion,
      state: deserializeJson(row.state, `snapshot state of stream ${streamId}`) as S,
      createdAt: new Date(row.createdAt),
    };
  }

  async save<S>(snapshot: Snapshot<S>): Promise<void> {
    const state = serializeJson(snapshot.state, `snapshot state of stream ${snapshot.streamId}`);
    await this.#run('write', () =>
      this.#save.run(
        snapshot.streamId,
        snapshot.version,
        snapshot.stateVersion,
        state,
        snapshot.createdAt.getTime(),
      ),
    );
  }

  async delete(streamId: string): Promise<void> {
    await this.#run('write', () => this.#delete.run(streamId));
  }

  /** Waits its turn while this process holds a transaction on the file (see sqlite-transaction.ts). */
  #run<T>(access: 'read' | 'write', work: () => T): T | Promise<T> {
    if (!this.#db.open) throw new StoreClosedError();
    return this.#gate.run(this.#db, access, () => {
      if (!this.#db.open) throw new StoreClosedError();
      try {
        return work();
      } catch (error) {
        throw toStoreError(error, addressOf(this.#db.name));
      }
    });
  }
}
