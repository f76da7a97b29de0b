import type { ScopeOwner, StoredState } from '../../streams/state-repository.js';

/** A `causeway_stream_entries` row; window rows add their bounds (bigint text on PostgreSQL). */
export interface EntryRow {
  store: string;
  key_id: string;
  key: string;
  value: string;
}

export interface WindowRow extends EntryRow {
  window_start: number | string;
  window_end: number | string;
}

export interface ScopeRow {
  scope: string;
  owner: string | null;
  generation: number | string;
  lease_expires_at: number | string | null;
}

/** A scope's committed state from its rows, the same on SQLite and PostgreSQL. */
export function storedStateOf(rows: {
  positions: readonly { source: string; position: string }[];
  times: readonly { store: string; stream_time: number }[];
  entries: readonly EntryRow[];
  windows: readonly WindowRow[];
}): StoredState {
  return {
    positions: new Map(rows.positions.map((row) => [row.source, row.position])),
    streamTimes: new Map(rows.times.map((row) => [row.store, row.stream_time])),
    keyValues: rows.entries.map((row) => ({
      store: row.store,
      keyId: row.key_id,
      key: row.key,
      value: row.value,
    })),
    windows: rows.windows.map((row) => ({
      store: row.store,
      keyId: row.key_id,
      key: row.key,
      value: row.value,
      start: Number(row.window_start),
      end: Number(row.window_end),
    })),
  };
}

export function scopeOwnerOf(row: ScopeRow): ScopeOwner {
  return {
    scope: row.scope,
    owner: row.owner ?? undefined,
    generation: Number(row.generation),
    leaseUntil: row.lease_expires_at === null ? undefined : Number(row.lease_expires_at),
  };
}
