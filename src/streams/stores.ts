import { keyIdOf, type OutputRecord } from './record.js';

/**
 * State store ports. Operators call them synchronously, once or twice per record, so a
 * store is an in-process map; durable backends (SQLite, PostgreSQL) keep the same
 * interface over a write cache and write the changed entries at `StateBackend.commit`.
 */
export interface KeyValueStore<K = unknown, V = unknown> {
  readonly name: string;
  get(key: K): V | undefined;
  put(key: K, value: V): void;
  delete(key: K): void;
  /** Entries held now: tests assert on it to prove state stays bounded. */
  readonly size: number;
}

/** One window of one key in a `WindowStore`. */
export interface WindowEntry<K = unknown, V = unknown> {
  readonly key: K;
  readonly start: number;
  readonly end: number;
  readonly value: V;
}

/**
 * Values per (key, window). `expire` is how windows leave: an operator asks for every window
 * whose end has passed its watermark, emits what it must, and the store forgets them — so
 * state stays bounded however long the stream runs.
 */
export interface WindowStore<K = unknown, V = unknown> {
  readonly name: string;
  get(key: K, start: number, end: number): V | undefined;
  put(key: K, start: number, end: number, value: V): void;
  delete(key: K, start: number, end: number): void;
  /**
   * Calls `each` for every window of `key` (sessions and join buffers scan a key's few
   * windows). `each` must not change the store; collect first, then change.
   */
  forEachOfKey(key: K, each: (entry: WindowEntry<K, V>) => void): void;
  /** Removes every window with `end <= upTo`, soonest end first, calling `each` before it goes. */
  expire(upTo: number, each: (entry: WindowEntry<K, V>) => void): void;
  /** The soonest end of any window held, or `Infinity`: lets operators skip `expire` cheaply. */
  readonly earliestEnd: number;
  readonly size: number;
}

/**
 * One unit of work to commit: where each source stands and what to emit. A durable backend
 * writes, in ONE transaction, the state entries changed since the last commit, these
 * positions and the outputs (as outbox rows), so a crash either keeps all three or none:
 * the records after the committed positions are reprocessed against the committed state,
 * and the outputs they produce again carry the same ids.
 */
export interface CommitUnit {
  /** Source name → position of the last record processed from it. */
  positions: ReadonlyMap<string, string>;
  outputs: readonly OutputRecord[];
}

/** Creates the stores a topology declares, and commits their changes with positions and outputs. */
export interface StateBackend {
  keyValueStore<K, V>(name: string): KeyValueStore<K, V>;
  windowStore<K, V>(name: string): WindowStore<K, V>;
  commit(unit: CommitUnit): void | Promise<void>;
  /** The positions of the last commit: where each source resumes. */
  committedPositions(): ReadonlyMap<string, string>;
  /**
   * Durable backends keep outputs as outbox rows in the commit: these are the ones no sink
   * has acknowledged yet, which a restarted task delivers before anything else.
   */
  undelivered?(): Promise<readonly OutputRecord[]>;
  /** Drops outbox rows whose outputs their sinks now have. */
  acknowledge?(ids: readonly string[]): Promise<void>;
}

/** An in-memory key-value store: a `Map` keyed by the key's identity (`keyIdOf`). */
export class MemoryKeyValueStore<K, V> implements KeyValueStore<K, V> {
  readonly #entries = new Map<string, V>();
  constructor(readonly name: string) {}
  get(key: K): V | undefined {
    return this.#entries.get(keyIdOf(key));
  }
  put(key: K, value: V): void {
    this.#entries.set(keyIdOf(key), value);
  }
  delete(key: K): void {
    this.#entries.delete(keyIdOf(key));
  }
  get size(): number {
    return this.#entries.size;
  }
}

interface Slot<K, V> {
  key: K;
  keyId: string;
  start: number;
  end: number;
  value: V;
}

/**
 * An in-memory window store: windows by key (for lookups) and by end time (for expiry).
 * The sorted list of distinct end times is short — one entry per open window period, not
 * per key — and grows at its tail as time moves on, so inserting is cheap.
 */
export class MemoryWindowStore<K, V> implements WindowStore<K, V> {
  // A key holds few windows at once (one per open period, a few sessions or buffered join
  // records), so a short array scanned by number beats a map keyed by a built string.
  readonly #byKey = new Map<string, Slot<K, V>[]>();
  readonly #byEnd = new Map<number, Set<Slot<K, V>>>();
  readonly #ends: number[] = [];
  #size = 0;

  constructor(readonly name: string) {}

  get(key: K, start: number, end: number): V | undefined {
    const slots = this.#byKey.get(keyIdOf(key));
    if (slots === undefined) return undefined;
    return slots[find(slots, start, end)]?.value;
  }

  put(key: K, start: number, end: number, value: V): void {
    const keyId = keyIdOf(key);
    let slots = this.#byKey.get(keyId);
    if (slots === undefined) this.#byKey.set(keyId, (slots = []));
    const existing = slots[find(slots, start, end)];
    if (existing) {
      existing.value = value;
      return;
    }
    const slot: Slot<K, V> = { key, keyId, start, end, value };
    slots.push(slot);
    let atEnd = this.#byEnd.get(end);
    if (!atEnd) {
      this.#byEnd.set(end, (atEnd = new Set()));
      this.#insertEnd(end);
    }
    atEnd.add(slot);
    this.#size++;
  }

  delete(key: K, start: number, end: number): void {
    const keyId = keyIdOf(key);
    const slots = this.#byKey.get(keyId);
    if (slots === undefined) return;
    const index = find(slots, start, end);
    const slot = slots[index];
    if (!slot) return;
    this.#unlink(slots, index, keyId);
    const atEnd = this.#byEnd.get(end);
    atEnd?.delete(slot);
    if (atEnd?.size === 0) {
      this.#byEnd.delete(end);
      this.#ends.splice(this.#ends.indexOf(end), 1);
    }
    this.#size--;
  }

  forEachOfKey(key: K, each: (entry: WindowEntry<K, V>) => void): void {
    const slots = this.#byKey.get(keyIdOf(key));
    if (slots) for (let i = 0; i < slots.length; i++) each(slots[i] as Slot<K, V>);
  }

  expire(upTo: number, each: (entry: WindowEntry<K, V>) => void): void {
    while (this.#ends.length > 0 && (this.#ends[0] as number) <= upTo) {
      const end = this.#ends.shift() as number;
      const atEnd = this.#byEnd.get(end);
      this.#byEnd.delete(end);
      if (!atEnd) continue;
      for (const slot of atEnd) {
        const slots = this.#byKey.get(slot.keyId);
        if (slots) this.#unlink(slots, slots.indexOf(slot), slot.keyId);
        this.#size--;
        each(slot);
      }
    }
  }

  #unlink(slots: Slot<K, V>[], index: number, keyId: string): void {
    if (slots.length === 1) this.#byKey.delete(keyId);
    else slots.splice(index, 1);
  }

  get earliestEnd(): number {
    return this.#ends[0] ?? Infinity;
  }

  get size(): number {
    return this.#size;
  }

  #insertEnd(end: number): void {
    const ends = this.#ends;
    let low = ends.length;
    // Ends mostly arrive in order: walk back from the tail instead of bisecting.
    while (low > 0 && (ends[low - 1] as number) > end) low--;
    ends.splice(low, 0, end);
  }
}

function find<K, V>(slots: readonly Slot<K, V>[], start: number, end: number): number {
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i] as Slot<K, V>;
    if (slot.start === start && slot.end === end) return i;
  }
  return -1;
}

/**
 * Keeps every store in memory and the committed positions and outputs in lists. State
 * changes apply in place, so `commit` only records positions and outputs: a crash loses
 * everything, which is what "in memory" means. The reference for durable backends' behaviour.
 */
export class MemoryStateBackend implements StateBackend {
  readonly #positions = new Map<string, string>();
  /** Every output committed so far, in commit order. */
  readonly committedOutputs: OutputRecord[] = [];
  readonly #stores = new Map<
    string,
    KeyValueStore<unknown, unknown> | WindowStore<unknown, unknown>
  >();

  // A store asked for again (a new runtime or task over this backend, as after a restart in
  // one process) is the same store, holding the state so far.
  keyValueStore<K, V>(name: string): KeyValueStore<K, V> {
    let store = this.#stores.get(name);
    if (!store) this.#stores.set(name, (store = new MemoryKeyValueStore<unknown, unknown>(name)));
    return store as KeyValueStore<K, V>;
  }

  windowStore<K, V>(name: string): WindowStore<K, V> {
    let store = this.#stores.get(name);
    if (!store) this.#stores.set(name, (store = new MemoryWindowStore<unknown, unknown>(name)));
    return store as WindowStore<K, V>;
  }

  /** A store by name, for inspection (sizes in tests, debugging). */
  store(name: string): KeyValueStore<unknown, unknown> | WindowStore<unknown, unknown> | undefined {
    return this.#stores.get(name);
  }

  commit(unit: CommitUnit): void {
    for (const [source, position] of unit.positions) this.#positions.set(source, position);
    this.committedOutputs.push(...unit.outputs);
  }

  committedPositions(): ReadonlyMap<string, string> {
    return this.#positions;
  }
}
