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
  /**
   * The highest event time the owning operator has seen (`-Infinity` before any). It lives
   * in the store, not the operator, so a durable backend restores it with the windows: a
   * restarted operator's watermark is where it was, and a record late before a crash is
   * late after it too.
   */
  streamTime: number;
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
 * The distinct end times sit in a binary min-heap of numbers: a join buffers each record
 * under its own end, so there can be tens of thousands of them, arriving out of order, and
 * a sorted array would pay a linear shift or splice per record.
 */
export class MemoryWindowStore<K, V> implements WindowStore<K, V> {
  // A key holds few windows at once (one per open period, a few sessions or buffered join
  // records), so a short array scanned by number beats a map keyed by a built string.
  readonly #byKey = new Map<string, Slot<K, V>[]>();
  /** Slots per end, in insertion order (the order `expire` visits them in). */
  readonly #byEnd = new Map<number, Slot<K, V>[]>();
  /**
   * Every end in `#byEnd`, as a min-heap. An end whose windows were all deleted stays in the
   * heap (removing from the middle of a heap is costly) and is skipped when it surfaces; the
   * top is never such a stale end, so `earliestEnd` is exact.
   */
  readonly #ends: number[] = [];
  /**
   * The slot the last `get` found. Operators read a window then write it back: the `put`
   * that follows finds its slot here instead of looking the key up again.
   */
  #last: Slot<K, V> | undefined;
  #size = 0;
  streamTime = -Infinity;

  constructor(readonly name: string) {}

  get(key: K, start: number, end: number): V | undefined {
    const slots = this.#byKey.get(keyIdOf(key));
    if (slots === undefined) return undefined;
    const slot = slots[find(slots, start, end)];
    if (slot === undefined) return undefined;
    this.#last = slot;
    return slot.value;
  }

  put(key: K, start: number, end: number, value: V): void {
    const last = this.#last;
    // The same key value (`===`) has the same identity; another equal object key looks up.
    if (last !== undefined && last.key === key && last.start === start && last.end === end) {
      last.value = value;
      return;
    }
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
    const atEnd = this.#byEnd.get(end);
    if (atEnd === undefined) {
      this.#byEnd.set(end, [slot]);
      heapPush(this.#ends, end);
    } else atEnd.push(slot);
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
    if (this.#last === slot) this.#last = undefined;
    const atEnd = this.#byEnd.get(end) as Slot<K, V>[];
    if (atEnd.length === 1) {
      this.#byEnd.delete(end);
      this.#dropStaleEnds();
    } else atEnd.splice(atEnd.indexOf(slot), 1);
    this.#size--;
  }

  forEachOfKey(key: K, each: (entry: WindowEntry<K, V>) => void): void {
    const slots = this.#byKey.get(keyIdOf(key));
    if (slots) for (let i = 0; i < slots.length; i++) each(slots[i] as Slot<K, V>);
  }

  expire(upTo: number, each: (entry: WindowEntry<K, V>) => void): void {
    const ends = this.#ends;
    this.#last = undefined;
    while (ends.length > 0 && (ends[0] as number) <= upTo) {
      const end = heapPop(ends);
      const atEnd = this.#byEnd.get(end);
      if (atEnd === undefined) continue; // stale: its windows were deleted
      this.#byEnd.delete(end);
      for (let i = 0; i < atEnd.length; i++) {
        const slot = atEnd[i] as Slot<K, V>;
        const slots = this.#byKey.get(slot.keyId);
        if (slots) this.#unlink(slots, slots.indexOf(slot), slot.keyId);
        this.#size--;
        each(slot);
      }
    }
    this.#dropStaleEnds();
  }

  #unlink(slots: Slot<K, V>[], index: number, keyId: string): void {
    if (slots.length === 1) this.#byKey.delete(keyId);
    else slots.splice(index, 1);
  }

  /** Pops ends whose windows are all gone off the heap's top, so the top is a live end. */
  #dropStaleEnds(): void {
    const ends = this.#ends;
    while (ends.length > 0 && !this.#byEnd.has(ends[0] as number)) heapPop(ends);
  }

  get earliestEnd(): number {
    return this.#ends[0] ?? Infinity;
  }

  get size(): number {
    return this.#size;
  }
}

function find<K, V>(slots: readonly Slot<K, V>[], start: number, end: number): number {
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i] as Slot<K, V>;
    if (slot.start === start && slot.end === end) return i;
  }
  return -1;
}

function heapPush(heap: number[], value: number): void {
  let at = heap.push(value) - 1;
  while (at > 0) {
    const parent = (at - 1) >> 1;
    const above = heap[parent] as number;
    if (above <= value) break;
    heap[at] = above;
    at = parent;
  }
  heap[at] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0] as number;
  const last = heap.pop() as number;
  const length = heap.length;
  if (length === 0) return top;
  let at = 0;
  for (;;) {
    let child = 2 * at + 1;
    if (child >= length) break;
    if (child + 1 < length && (heap[child + 1] as number) < (heap[child] as number)) child++;
    const below = heap[child] as number;
    if (below >= last) break;
    heap[at] = below;
    at = child;
  }
  heap[at] = last;
  return top;
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
