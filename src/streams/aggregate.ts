import { keyIdOf, type StreamRecord, type Windowed } from './record.js';
import { Processor, type ProcessorContext } from './processor.js';
import type { KeyValueStore, WindowEntry, WindowStore } from './stores.js';
import {
  forEachWindowStart,
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
 * A running aggregate per key (no windows): the store holds one entry per key and each
 * record emits the key's new aggregate, a changelog of the table.
 */
export class KeyAggregateProcessor extends Processor {
  readonly #store: KeyValueStore;
  constructor(
    context: ProcessorContext,
    storeName: string,
    private readonly aggregator: Aggregator,
  ) {
    super();
    this.#store = context.keyValueStore(storeName);
  }
  process(record: StreamRecord): void {
    const current = this.#store.get(record.key);
    const next = this.aggregator.add(
      current === undefined ? this.aggregator.init() : current,
      record.value,
      record.key,
    );
    this.#store.put(record.key, next);
    this.forward({ ...record, value: next });
  }
}

/**
 * What tumbling, hopping and session aggregations share: a window store, the operator's
 * stream time (the highest event time it has seen), and how results leave — every update
 * (`update`) or once per window as the store expires it (`final`).
 */
abstract class WindowAggregateProcessor extends Processor {
  protected readonly store: WindowStore;
  protected streamTime = -Infinity;
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
  ) {
    super();
    this.store = context.windowStore(storeName);
  }

  /** The event time a window's final result carries. */
  protected abstract finalTimestamp(entry: WindowEntry): number;

  protected emitUpdate(record: StreamRecord, start: number, end: number, value: unknown): void {
    if (this.emit !== 'update') return;
    this.forward({
      key: { key: record.key, window: { start, end } } satisfies Windowed<unknown>,
      value,
      timestamp: record.timestamp,
      position: `${record.position}@${start}`,
      headers: record.headers,
    });
  }

  protected fold(current: unknown, record: StreamRecord): unknown {
    return this.aggregator.add(
      current === undefined ? this.aggregator.init() : current,
      record.value,
      record.key,
    );
  }
}

/**
 * Tumbling and hopping windows. A window `[start, end)` closes when stream time reaches
 * `end + grace`, emits its final value (in `final` mode) and leaves the store, which
 * therefore holds only open windows.
 */
export class TimeWindowAggregateProcessor extends WindowAggregateProcessor {
  #record: StreamRecord | undefined;
  #added = 0;
  readonly #addToWindow = (start: number): void => this.#add(start);

  constructor(
    context: ProcessorContext,
    storeName: string,
    private readonly spec: TumblingWindows | HoppingWindows,
    emit: EmitMode,
    aggregator: Aggregator,
  ) {
    super(context, storeName, emit, aggregator);
  }

  process(record: StreamRecord): void {
    if (record.timestamp > this.streamTime) {
      this.streamTime = record.timestamp;
      const watermark = this.#watermark();
      if (this.store.earliestEnd <= watermark) this.store.expire(watermark, this.emitFinal);
    }
    this.#record = record;
    this.#added = 0;
    forEachWindowStart(this.spec, record.timestamp, this.#addToWindow);
    this.#record = undefined;
    // A record in some open windows counts there; only one every window of which closed is late.
    if (this.#added === 0) this.context.late(this.storeName, record, this.#watermark());
  }

  protected finalTimestamp(entry: WindowEntry): number {
    return entry.end - 1;
  }

  #watermark(): number {
    return this.streamTime - this.spec.grace;
  }

  #add(start: number): void {
    const record = this.#record as StreamRecord;
    const end = start + this.spec.size;
    if (end <= this.#watermark()) return;
    this.#added++;
    const next = this.fold(this.store.get(record.key, start, end), record);
    this.store.put(record.key, start, end, next);
    this.emitUpdate(record, start, end, next);
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
  ) {
    super(context, storeName, emit, aggregator);
  }

  process(record: StreamRecord): void {
    const { gap, grace } = this.spec;
    if (record.timestamp > this.streamTime) {
      this.streamTime = record.timestamp;
      const upTo = this.streamTime - grace - gap;
      if (this.store.earliestEnd <= upTo) this.store.expire(upTo, this.emitFinal);
    }
    const t = record.timestamp;
    if (t < this.streamTime - grace) {
      this.context.late(this.storeName, record, this.streamTime - grace);
      return;
    }
    const touching: WindowEntry[] = [];
    this.store.forEachOfKey(record.key, (entry) => {
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
      merged = merged === undefined ? entry.value : merge(merged, entry.value, record.key);
      this.store.delete(record.key, entry.start, entry.end);
    }
    const next = this.fold(merged, record);
    this.store.put(record.key, start, end, next);
    this.emitUpdate(record, start, end, next);
  }

  protected finalTimestamp(entry: WindowEntry): number {
    return entry.end;
  }
}
