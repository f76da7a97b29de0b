import { ValidationError } from '../core/errors.js';
import type { OutputRecord } from './record.js';

/**
 * The port a durable state backend writes through: one implementation per database
 * (`causeway/sqlite`, `causeway/postgres`, and `MemoryStateRepository` as the reference).
 * Everything is scoped: a scope is one task's state (a topology, or one partition of it),
 * owned by one process at a time. Keys and values arrive serialised (JSON text), so a
 * repository only moves strings and numbers.
 */
export interface StateRepository {
  /** The sinks this repository writes as tables inside the commit (see `TableSinkSpec`). */
  readonly tableSinks: ReadonlySet<string>;
  /**
   * Takes ownership of `scope` for `owner` until `leaseUntil` (epoch ms) and returns the new
   * generation, which fences every earlier owner: their writes fail from now on. With
   * `takeOver: false` the claim succeeds only if nobody holds an unexpired lease (returns
   * `undefined` otherwise); with `true` it always succeeds (a single-process task restarting).
   */
  claim(request: ClaimRequest): Promise<number | undefined>;
  /** Everything committed for `scope`: positions, entries, stream times. */
  load(scope: string): Promise<StoredState>;
  /**
   * Writes one commit in ONE transaction, fenced: if `generation` is no longer the scope's,
   * nothing is written and it throws `StateFencedError`. Extends the lease to `leaseUntil`.
   */
  write(
    scope: string,
    generation: number,
    leaseUntil: number,
    changes: StateChanges,
  ): Promise<void>;
  /** Extends the lease without writing state; throws `StateFencedError` if it was lost. */
  renew(scope: string, generation: number, leaseUntil: number): Promise<void>;
  /** Gives the scope up (another process may claim it at once); a no-op if already lost. */
  release(scope: string, generation: number): Promise<void>;
  /** Outbox rows committed and not yet acknowledged, in commit order. */
  undelivered(scope: string): Promise<OutboxRow[]>;
  /** Removes outbox rows once their sink has them. */
  acknowledge(scope: string, ids: readonly string[]): Promise<void>;
  /** Scopes whose names start with `prefix` and their owners (for partition assignment). */
  owners(prefix: string): Promise<ScopeOwner[]>;
}

export interface ClaimRequest {
  scope: string;
  owner: string;
  leaseUntil: number;
  /** The caller's clock now (epoch ms): leases that ended before it are free. */
  now: number;
  takeOver: boolean;
}

/** Who holds a scope, as the repository has it. */
export interface ScopeOwner {
  scope: string;
  owner: string | undefined;
  generation: number;
  leaseUntil: number | undefined;
}

/** A key-value entry as stored: the key as JSON (`keyId` is its identity), the value as JSON. */
export interface StoredKeyValue {
  store: string;
  keyId: string;
  key: string;
  value: string;
}

/** A window entry as stored. */
export interface StoredWindow extends StoredKeyValue {
  start: number;
  end: number;
}

export interface StoredState {
  positions: Map<string, string>;
  keyValues: StoredKeyValue[];
  windows: StoredWindow[];
  /** Window store name → its operator's stream time. */
  streamTimes: Map<string, number>;
}

/** An output kept in the commit until its sink has it; `record` is the serialised `OutputRecord`. */
export interface OutboxRow {
  id: string;
  sink: string;
  record: string;
}

/**
 * One commit's changes. `value: undefined` deletes the entry (a deleted key, an expired or
 * merged window). `tableRows` are outputs for the repository's table sinks, upserted into
 * their tables; `outbox` rows are delivered after the commit and acknowledged by id.
 */
export interface StateChanges {
  positions: ReadonlyMap<string, string>;
  keyValues: readonly (Omit<StoredKeyValue, 'value'> & { value: string | undefined })[];
  windows: readonly (Omit<StoredWindow, 'value'> & { value: string | undefined })[];
  streamTimes: ReadonlyMap<string, number>;
  tableRows: readonly OutputRecord[];
  outbox: readonly OutboxRow[];
}

/** A column value a table sink writes. Objects and arrays are written as JSON text. */
export type SqlValue = string | number | boolean | null;

/**
 * A read-model table written in the same transaction as the state and positions, so after a
 * crash the table equals a clean run's. Each output of `sink` becomes one row, upserted by
 * the `key` columns (which need a unique index); `row` returning `null` deletes the row
 * with the key that `keyOf` gives. The table is created by the application.
 */
export interface TableSinkSpec<K = unknown, V = unknown> {
  /** The topology's sink name. */
  sink: string;
  table: string;
  /** The columns identifying a row; `row` must return them. */
  key: readonly string[];
  row(record: OutputRecord<K, V>): Record<string, SqlValue> | null;
  /** The key columns of the row to delete when `row` returns `null`. */
  keyOf?(record: OutputRecord<K, V>): Record<string, SqlValue>;
}

/** Identifiers spliced into table-sink SQL: plain names only (optionally `schema.table`). */
export const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

/** What one output does to its table: upsert a row, or delete the row with a key. */
export type TableWrite =
  | { kind: 'upsert'; row: Record<string, SqlValue> }
  | { kind: 'delete'; key: Record<string, SqlValue> };

/** Applies a table sink's mapping to one output and checks the result has every key column. */
export function tableWriteOf(spec: TableSinkSpec, record: OutputRecord): TableWrite {
  const row = spec.row(record);
  if (row !== null) {
    requireKey(spec, row);
    return { kind: 'upsert', row };
  }
  if (!spec.keyOf) {
    throw new ValidationError('Table sink cannot delete', [
      { path: ['sinks', spec.sink], message: 'row() returned null but the sink has no keyOf()' },
    ]);
  }
  const key = spec.keyOf(record);
  requireKey(spec, key);
  return { kind: 'delete', key };
}

function requireKey(spec: TableSinkSpec, row: Record<string, SqlValue>): void {
  for (const column of spec.key) {
    if (row[column] === undefined) {
      throw new ValidationError('Table sink row lacks its key', [
        { path: ['sinks', spec.sink, column], message: 'every key column needs a value' },
      ]);
    }
  }
}

/** Checks a table sink's names before they are spliced into SQL. */
export function validateTableSink(spec: TableSinkSpec): void {
  const bad = [spec.table, ...spec.key].filter((name) => !SQL_IDENTIFIER.test(name));
  if (bad.length > 0 || spec.key.length === 0) {
    throw new ValidationError('Invalid table sink', [
      {
        path: ['sinks', spec.sink],
        message:
          spec.key.length === 0
            ? 'needs at least one key column'
            : `not a plain SQL identifier: ${bad.join(', ')}`,
      },
    ]);
  }
}

/**
 * The table writes of one commit, the last per table and key only: a row is what its latest
 * output says (so `row` should name every column), and a commit of many updates to one
 * window writes it once.
 */
export function tableWritesOf(
  specs: ReadonlyMap<string, TableSinkSpec>,
  records: readonly OutputRecord[],
): { spec: TableSinkSpec; write: TableWrite }[] {
  const latest = new Map<string, { spec: TableSinkSpec; write: TableWrite }>();
  for (const record of records) {
    const spec = specs.get(record.sink) as TableSinkSpec;
    const write = tableWriteOf(spec, record);
    const values = write.kind === 'upsert' ? write.row : write.key;
    const id = JSON.stringify([spec.table, ...spec.key.map((column) => values[column])]);
    // Re-inserted so the map keeps the order in which rows were last written.
    latest.delete(id);
    latest.set(id, { spec, write });
  }
  return [...latest.values()];
}
