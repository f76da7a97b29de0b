import { randomUUID } from 'node:crypto';
import { ValidationError } from '../core/errors.js';
import { keyIdOf, type OutputRecord } from './record.js';
import type {
  OutboxRow,
  StateChanges,
  StateRepository,
  StoredState,
  StoredKeyValue,
  StoredWindow,
} from './state-repository.js';
import {
  MemoryKeyValueStore,
  MemoryWindowStore,
  type CommitUnit,
  type StateBackend,
  type WindowEntry,
} from './stores.js';

/** How keys and values become text in the database. JSON by default. */
export interface StateCodec {
  serialize(value: unknown): string;
  deserialize(text: string): unknown;
}

const JSON_CODEC: StateCodec = {
  serialize: (value) => JSON.stringify(value),
  deserialize: (text) => JSON.parse(text) as unknown,
};

/**
 * A key-value store that remembers which keys changed since the last commit. Operators
 * call it synchronously like the memory store it extends; the backend reads the current
 * value of each changed key at commit (absent means deleted).
 */
class TrackedKeyValueStore<K, V> extends MemoryKeyValueStore<K, V> {
  readonly dirty = new Map<string, K>();
  override put(key: K, value: V): void {
    super.put(key, value);
    this.dirty.set(keyIdOf(key), key);
  }
  override delete(key: K): void {
    super.delete(key);
    this.dirty.set(keyIdOf(key), key);
  }
  /** Puts a committed entry back without marking it changed. */
  restore(key: K, value: V): void {
    super.put(key, value);
  }
}

interface WindowRef<K> {
  key: K;
  keyId: string;
  start: number;
  end: number;
}

/** A window store that remembers changed, deleted and expired windows since the last commit. */
class TrackedWindowStore<K, V> extends MemoryWindowStore<K, V> {
  readonly dirty = new Map<string, WindowRef<K>>();
  committedStreamTime = -Infinity;

  override put(key: K, start: number, end: number, value: V): void {
    super.put(key, start, end, value);
    this.#mark(key, start, end);
  }
  override delete(key: K, start: number, end: number): void {
    super.delete(key, start, end);
    this.#mark(key, start, end);
  }
  override expire(upTo: number, each: (entry: WindowEntry<K, V>) => void): void {
    super.expire(upTo, (entry) => {
      this.#mark(entry.key, entry.start, entry.end);
      each(entry);
    });
  }
  restore(key: K, start: number, end: number, value: V): void {
    super.put(key, start, end, value);
  }
  #mark(key: K, start: number, end: number): void {
    const keyId = keyIdOf(key);
    this.dirty.set(`${start}\u0000${end}\u0000${keyId}`, { key, keyId, start, end });
  }
}

export interface DurableStateOptions {
  repository: StateRepository;
  /**
   * The state's name in the database: one per task (e.g. the topology's name), or one per
   * partition. Two processes must never write one scope at once; the lease fences them.
   */
  scope: string;
  /** Who holds the scope (shown in the lease table). Default: a random id per backend. */
  owner?: string;
  /** How long a claim lasts without a commit or `renew()` (default 30 s). */
  leaseMs?: number;
  /**
   * `true` (default): take the scope over even if another process holds it, fencing that
   * process (a restarted single task). `false`: only claim a free or expired scope.
   */
  takeOver?: boolean;
  /**
   * Keep outputs for sinks other than tables as outbox rows in the commit, delivered by the
   * task after it and acknowledged (default true). Without it, outputs written after a commit
   * are lost if the process dies before the sink has them.
   */
  outbox?: boolean;
  codec?: StateCodec;
  clock?: () => number;
}

/**
 * A `StateBackend` whose state survives the process. Stores live in memory (operators call
 * them synchronously, once or twice per record) and remember what changed; `commit` writes
 * the changed entries, expired windows' deletions, the source positions and the outputs in
 * one fenced transaction through a `StateRepository`. `open` loads the scope's whole state
 * eagerly: a synchronous `get` cannot wait for PostgreSQL, and expiry needs every window's
 * end anyway, so memory holds what the memory backend would hold — open windows and one
 * entry per key.
 */
export class DurableStateBackend implements StateBackend {
  readonly #repository: StateRepository;
  readonly #codec: StateCodec;
  readonly #clock: () => number;
  readonly #leaseMs: number;
  readonly #outbox: boolean;
  readonly #keyValues = new Map<string, TrackedKeyValueStore<unknown, unknown>>();
  readonly #windows = new Map<string, TrackedWindowStore<unknown, unknown>>();
  readonly #positions = new Map<string, string>();
  /** Positions and outputs of commits that failed: the next commit carries them again. */
  readonly #unwrittenPositions = new Map<string, string>();
  #unwrittenOutputs: OutputRecord[] = [];
  /** Committed rows per store, handed over (and dropped) when the runtime creates the store. */
  readonly #loadedKeyValues = new Map<string, StoredKeyValue[]>();
  readonly #loadedWindows = new Map<string, StoredWindow[]>();
  readonly #loadedStreamTimes: ReadonlyMap<string, number>;
  #released = false;

  private constructor(
    options: DurableStateOptions,
    readonly scope: string,
    readonly owner: string,
    /** This backend's fence: commits succeed only while the scope's generation is this one. */
    readonly generation: number,
    loaded: StoredState,
  ) {
    this.#repository = options.repository;
    this.#codec = options.codec ?? JSON_CODEC;
    this.#clock = options.clock ?? Date.now;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#outbox = options.outbox ?? true;
    for (const row of loaded.keyValues) bucket(this.#loadedKeyValues, row.store).push(row);
    for (const row of loaded.windows) bucket(this.#loadedWindows, row.store).push(row);
    this.#loadedStreamTimes = loaded.streamTimes;
    for (const [source, position] of loaded.positions) this.#positions.set(source, position);
  }

  /** Claims the scope (see `takeOver`) and loads its committed state; `undefined` if another process holds it. */
  static async open(options: DurableStateOptions): Promise<DurableStateBackend | undefined> {
    if (typeof options.scope !== 'string' || options.scope === '') {
      throw new ValidationError('Invalid state scope', [
        { path: ['scope'], message: 'must be a non-empty string' },
      ]);
    }
    const owner = options.owner ?? randomUUID();
    const now = (options.clock ?? Date.now)();
    const generation = await options.repository.claim({
      scope: options.scope,
      owner,
      now,
      leaseUntil: now + (options.leaseMs ?? 30_000),
      takeOver: options.takeOver ?? true,
    });
    if (generation === undefined) return undefined;
    const loaded = await options.repository.load(options.scope);
    return new DurableStateBackend(options, options.scope, owner, generation, loaded);
  }

  keyValueStore<K, V>(name: string): TrackedKeyValueStore<K, V> {
    this.#requireNew(name);
    const store = new TrackedKeyValueStore<unknown, unknown>(name);
    for (const row of this.#loadedKeyValues.get(name) ?? [])
      store.restore(this.#codec.deserialize(row.key), this.#codec.deserialize(row.value));
    this.#loadedKeyValues.delete(name);
    this.#keyValues.set(name, store);
    return store as TrackedKeyValueStore<K, V>;
  }

  windowStore<K, V>(name: string): TrackedWindowStore<K, V> {
    this.#requireNew(name);
    const store = new TrackedWindowStore<unknown, unknown>(name);
    for (const row of this.#loadedWindows.get(name) ?? []) {
      const key = this.#codec.deserialize(row.key);
      store.restore(key, row.start, row.end, this.#codec.deserialize(row.value));
    }
    this.#loadedWindows.delete(name);
    const time = this.#loadedStreamTimes.get(name);
    if (time !== undefined) store.streamTime = store.committedStreamTime = time;
    this.#windows.set(name, store);
    return store as TrackedWindowStore<K, V>;
  }

  committedPositions(): ReadonlyMap<string, string> {
    return this.#positions;
  }

  /**
   * Writes the unit with every entry changed since the last commit, in one transaction.
   * If it fails, the in-memory state stays ahead and the next commit writes it again; on
   * `StateFencedError` the scope belongs to someone else and this backend must be dropped.
   */
  async commit(unit: CommitUnit): Promise<void> {
    this.#assertHeld();
    for (const [source, position] of unit.positions) this.#unwrittenPositions.set(source, position);
    if (unit.outputs.length > 0) this.#unwrittenOutputs.push(...unit.outputs);
    const changes = this.#changes();
    await this.#repository.write(
      this.scope,
      this.generation,
      this.#clock() + this.#leaseMs,
      changes,
    );
    for (const store of this.#keyValues.values()) store.dirty.clear();
    for (const store of this.#windows.values()) {
      store.dirty.clear();
      store.committedStreamTime = store.streamTime;
    }
    for (const [source, position] of this.#unwrittenPositions)
      this.#positions.set(source, position);
    this.#unwrittenPositions.clear();
    this.#unwrittenOutputs = [];
  }

  /** Outbox rows committed but not yet acknowledged: a restarted task delivers them first. */
  async undelivered(): Promise<OutputRecord[]> {
    const rows = await this.#repository.undelivered(this.scope);
    return rows.map((row) => this.#codec.deserialize(row.record) as OutputRecord);
  }

  /** Marks outputs as delivered to their sinks (their outbox rows go). */
  acknowledge(ids: readonly string[]): Promise<void> {
    return ids.length === 0 ? Promise.resolve() : this.#repository.acknowledge(this.scope, ids);
  }

  /** Extends the lease; throws `StateFencedError` if another process took the scope. */
  renew(): Promise<void> {
    this.#assertHeld();
    return this.#repository.renew(this.scope, this.generation, this.#clock() + this.#leaseMs);
  }

  /** Gives the scope up so another process can claim it now. The backend is unusable after. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#repository.release(this.scope, this.generation);
  }

  #changes(): StateChanges {
    const codec = this.#codec;
    const keyValues: StateChanges['keyValues'][number][] = [];
    for (const store of this.#keyValues.values()) {
      for (const [keyId, key] of store.dirty) {
        const value = store.get(key);
        keyValues.push({
          store: store.name,
          keyId,
          key: codec.serialize(key),
          value: value === undefined ? undefined : codec.serialize(value),
        });
      }
    }
    const windows: StateChanges['windows'][number][] = [];
    const streamTimes = new Map<string, number>();
    for (const store of this.#windows.values()) {
      for (const ref of store.dirty.values()) {
        const value = store.get(ref.key, ref.start, ref.end);
        windows.push({
          store: store.name,
          keyId: ref.keyId,
          key: codec.serialize(ref.key),
          start: ref.start,
          end: ref.end,
          value: value === undefined ? undefined : codec.serialize(value),
        });
      }
      if (store.streamTime !== store.committedStreamTime && Number.isFinite(store.streamTime))
        streamTimes.set(store.name, store.streamTime);
    }
    const tables = this.#repository.tableSinks;
    const tableRows: OutputRecord[] = [];
    const outbox: OutboxRow[] = [];
    for (const output of this.#unwrittenOutputs) {
      if (tables.has(output.sink)) tableRows.push(output);
      else if (this.#outbox)
        outbox.push({ id: output.id, sink: output.sink, record: codec.serialize(output) });
    }
    return {
      positions: this.#unwrittenPositions,
      keyValues,
      windows,
      streamTimes,
      tableRows,
      outbox,
    };
  }

  #requireNew(name: string): void {
    if (this.#keyValues.has(name) || this.#windows.has(name)) {
      throw new ValidationError('Duplicate store name', [
        { path: ['store'], message: `"${name}" was already created on this backend` },
      ]);
    }
  }

  #assertHeld(): void {
    if (this.#released) {
      throw new ValidationError('State scope released', [
        { path: ['scope'], message: `"${this.scope}" was released; open a new backend` },
      ]);
    }
  }
}

function bucket<T>(map: Map<string, T[]>, name: string): T[] {
  let list = map.get(name);
  if (!list) map.set(name, (list = []));
  return list;
}
