import { keyIdOf, type StreamRecord, type Windowed } from './record.js';
import { Processor, type ProcessorContext } from './processor.js';
import type { KeyValueStore, WindowEntry, WindowStore } from './stores.js';
import {
  firstWindowStart,
  lastWindowStart,
  windowStep,
  type EmitMode,
  type HoppingWindows,
  type SessionWindows,
  type TumblingWindows,
} from './windows.js';

/** How an aggregation starts, folds a value in, and (for sessions) merges two aggregates. */
export interface Aggregator {
  init(): unknown;
  add(aggregate: unknown, value: unknown, key: unknown): unknown;
  merge?(left: unknown, right: unknown, key: unknown): unknown;
}

/**
 * `groupBy(fn)`'s key function, applied by the aggregation itself: a separate re-keying
 * operator would allocate a record per input only for the aggregation to read its key.
 * `undefined` for `groupByKey()` (the record's own key).
 */
export type GroupKey = ((value: unknown, record: StreamRecord) => unknown) | undefined;

function groupKey(keyOf: GroupKey, record: StreamRecord): unknown {
  return keyOf === undefined ? record.key : keyOf(record.value, record);
}

/** The record as a re-keying operator would have passed it on (for the dead-letter output). */
function rekeyed(keyOf: GroupKey, record: StreamRecord, key: unknown): StreamRecord {
  if (keyOf === undefined) return record;
  const { value, timestamp, position, headers } = record;
  return { key, value, timestamp, position, headers };
}

/**
 * A running aggregate per key (no windows): the store holds one entry per key and each
 * record emits the key's new aggregate, a changelog of the table.
 */
export class KeyAggregateProcessor extends Processor {
  readonly #store: KeyValueStore;
  constructor(
    context: ProcessorContext,
    storeName: string,
    private readonly aggregator: Aggregator,
    private readonly keyOf: GroupKey = undefined,
  ) {
    super();
    this.#store = context.keyValueStore(storeName);
  }
  process(record: StreamRecord): void {
    const key = groupKey(this.keyOf, record);
    const current = this.#store.get(key);
    const next = this.aggregator.add(
      current === undefined ? this.aggregator.init() : current,
      record.value,
      key,
    );
    this.#store.put(key, next);
    if (this.keyOf === undefined) this.forward({ ...record, value: next });
    else {
      const { timestamp, position, headers } = record;
      this.forward({ key, value: next, timestamp, position, headers });
    }
  }
}

/**
 * What tumbling, hopping and session aggregations share: a window store (which also keeps the
 * operator's stream time, the highest event time it has seen, so a restored operator closes
 * windows where it left off), and how results leave — every update
 * (`update`) or once per window as the store expires it (`final`).
 */
abstract class WindowAggregateProcessor extends Processor {
  protected readonly store: WindowStore;
  /** Called by the store for each window it expires: emits the final value in `final` mode. */
  protected readonly emitFinal = (entry: WindowEntry): void => {
    if (this.emit !== 'final') return;
    this.forward({
      key: { key: entry.key, window: { start: entry.start, end: entry.end } },
      value: entry.value,
      timestamp: this.finalTimestamp(entry),
      position: `${this.storeName}/${keyIdOf(entry.key)}@${entry.start}`,
      headers: {},
    });
  };

  constructor(
    protected readonly context: ProcessorContext,
    protected readonly storeName: string,
    protected readonly emit: EmitMode,
    protected readonly aggregator: Aggregator,
    protected readonly keyOf: GroupKey,
  ) {
    super();
    this.store = context.windowStore(storeName);
  }

  /** The event time a window's final result carries. */
  protected abstract finalTimestamp(entry: WindowEntry): number;

  protected emitUpdate(
    record: StreamRecord,
    key: unknown,
    start: number,
    end: number,
    value: unknown,
  ): void {
    if (this.emit !== 'update') return;
    this.forward({
      key: { key, window: { start, end } } satisfies Windowed<unknown>,
      value,
      timestamp: record.timestamp,
      position: `${record.position}@${start}`,
      headers: record.headers,
    });
  }

  protected fold(current: unknown, record: StreamRecord, key: unknown): unknown {
    return this.aggregator.add(
      current === undefined ? this.aggregator.init() : current,
      record.value,
      key,
    );
  }

  /** Dead-letters a record every window of which has closed. */
  protected late(record: StreamRecord, key: unknown, watermark: number): void {
    this.context.late(this.storeName, rekeyed(this.keyOf, record, key), watermark);
  }
}

/**
 * Tumbling and hopping windows. A window `[start, end)` closes when stream time reaches
 * `end + grace`, emits its final value (in `final` mode) and leaves the store, which
 * therefore holds only open windows.
 */
export class TimeWindowAggregateProcessor extends WindowAggregateProcessor {
  readonly #step: number;

  constructor(
    context: ProcessorContext,
    storeName: string,
    private readonly spec: TumblingWindows | HoppingWindows,
    emit: EmitMode,
    aggregator: Aggregator,
    keyOf: GroupKey = undefined,
  ) {
    super(context, storeName, emit, aggregator, keyOf);
    this.#step = windowStep(spec);
  }

  process(record: StreamRecord): void {
    const key = groupKey(this.keyOf, record);
    const t = record.timestamp;
    const { size, grace } = this.spec;
    if (t > this.store.streamTime) {
      this.store.streamTime = t;
      if (this.store.earliestEnd <= t - grace) this.store.expire(t - grace, this.emitFinal);
    }
    const watermark = this.store.streamTime - grace;
    // A record in some open windows counts there; only one every window of which closed is late.
    let added = false;
    const last = lastWindowStart(this.spec, t);
    for (let start = firstWindowStart(this.spec, t); start <= last; start += this.#step) {
      const end = start + size;
      if (end <= watermark) continue;
      added = true;
      const store = this.store;
      const next = this.fold(store.get(key, start, end), record, key);
      store.put(key, start, end, next);
      this.emitUpdate(record, key, start, end, next);
    }
    if (!added) this.late(record, key, watermark);
  }

  protected finalTimestamp(entry: WindowEntry): number {
    return entry.end - 1;
  }
}

/**
 * Session windows. A record at `t` joins every session of its key it is less than `gap`
 * from (merging them), or starts one. A session `[first, last]` can change only while a
 * record on time could fall within `gap` of it, so it closes when the watermark (stream
 * time − grace) reaches `last + gap`; records below the watermark are late.
 */
export class SessionAggregateProcessor extends WindowAggregateProcessor {
  constructor(
    context: ProcessorContext,
    storeName: string,
    private readonly spec: SessionWindows,
    emit: EmitMode,
    aggregator: Aggregator,
    keyOf: GroupKey = undefined,
  ) {
    super(context, storeName, emit, aggregator, keyOf);
  }

  process(record: StreamRecord): void {
    const key = groupKey(this.keyOf, record);
    const { gap, grace } = this.spec;
    if (record.timestamp > this.store.streamTime) {
      this.store.streamTime = record.timestamp;
      const upTo = this.store.streamTime - grace - gap;
      if (this.store.earliestEnd <= upTo) this.store.expire(upTo, this.emitFinal);
    }
    const t = record.timestamp;
    if (t < this.store.streamTime - grace) {
      this.late(record, key, this.store.streamTime - grace);
      return;
    }
    const touching: WindowEntry[] = [];
    this.store.forEachOfKey(key, (entry) => {
      if (t > entry.start - gap && t < entry.end + gap) touching.push(entry);
    });
    touching.sort((a, b) => a.start - b.start);
    let start = t;
    let end = t;
    let merged: unknown = undefined;
    const merge = this.aggregator.merge as NonNullable<Aggregator['merge']>;
    for (const entry of touching) {
      start = Math.min(start, entry.start);
      end = Math.max(end, entry.end);
      merged = merged === undefined ? entry.value : merge(merged, entry.value, key);
      this.store.delete(key, entry.start, entry.end);
    }
    const next = this.fold(merged, record, key);
    this.store.put(key, start, end, next);
    this.emitUpdate(record, key, start, end, next);
  }

  protected finalTimestamp(entry: WindowEntry): number {
    return entry.end;
  }
}
