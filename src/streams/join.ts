import type { StreamRecord } from './record.js';
import { Processor, type ProcessorContext } from './processor.js';
import type { KeyValueStore, WindowEntry, WindowStore } from './stores.js';
import type { JoinWindows } from './windows.js';

export type JoinKind = 'inner' | 'left' | 'outer';

interface Buffered {
  readonly side: 'left' | 'right';
  readonly record: StreamRecord;
  matched: boolean;
}

/**
 * The state both inputs of a stream–stream join share: one window store holding each side's
 * records by key, in a slot `[t, t + reach]` where `reach` is how far ahead the other side
 * may still match it. Stream time is the highest event time either side has seen; the
 * watermark is stream time − grace. A record below the watermark is late. A buffered record
 * leaves once the watermark passes its reach: no record on time can match it any more, so a
 * left (or outer) join emits it unmatched then, and only then — never a premature "no match".
 */
class JoinState {
  readonly store: WindowStore<unknown, Buffered[]>;
  /** The left input's processor: the join's single output. */
  left: StreamJoinProcessor | undefined;

  constructor(
    private readonly context: ProcessorContext,
    readonly name: string,
    readonly kind: JoinKind,
    readonly windows: JoinWindows,
    readonly joiner: (left: unknown, right: unknown) => unknown,
  ) {
    this.store = context.windowStore(name);
  }

  readonly #expired = (entry: WindowEntry<unknown, Buffered[]>): void => {
    for (const item of entry.value) {
      if (item.matched) continue;
      if (item.side === 'left' && this.kind !== 'inner') this.#emitUnmatched(item.record, 'left');
      if (item.side === 'right' && this.kind === 'outer') this.#emitUnmatched(item.record, 'right');
    }
  };

  process(side: 'left' | 'right', record: StreamRecord): void {
    const t = record.timestamp;
    if (t > this.store.streamTime) {
      this.store.streamTime = t;
      const watermark = this.store.streamTime - this.windows.grace;
      if (this.store.earliestEnd < watermark) this.store.expire(watermark - 1, this.#expired);
    }
    const watermark = this.store.streamTime - this.windows.grace;
    if (t < watermark) {
      this.context.late(this.name, record, watermark);
      return;
    }
    // A left record at t matches right records in [t - before, t + after]; a right one at t
    // matches left records in [t - after, t + before].
    const { before, after } = this.windows;
    const self: Buffered = { side, record, matched: false };
    this.#self = self;
    this.#low = side === 'left' ? t - before : t - after;
    this.#high = side === 'left' ? t + after : t + before;
    this.store.forEachOfKey(record.key, this.#matchEntry);
    this.#self = undefined;
    // Buffers change in place; putting them back tells a durable store's write cache.
    const changed = this.#changed;
    for (let i = 0; i < changed.length; i++) {
      const entry = changed[i] as WindowEntry<unknown, Buffered[]>;
      this.store.put(record.key, entry.start, entry.end, entry.value);
    }
    changed.length = 0;
    const reach = side === 'left' ? after : before;
    const slot = this.store.get(record.key, t, t + reach);
    if (slot) slot.push(self);
    this.store.put(record.key, t, t + reach, slot ?? [self]);
  }

  // The record being matched, for `#matchEntry`: one callback made once, not a closure per record.
  #self: Buffered | undefined;
  #low = 0;
  #high = 0;
  /** Buffers whose records got their first match during one `process` call (reused). */
  readonly #changed: WindowEntry<unknown, Buffered[]>[] = [];

  readonly #matchEntry = (entry: WindowEntry<unknown, Buffered[]>): void => {
    if (entry.start < this.#low || entry.start > this.#high) return;
    const self = this.#self as Buffered;
    const buffered = entry.value;
    for (let i = 0; i < buffered.length; i++) {
      const other = buffered[i] as Buffered;
      if (other.side === self.side) continue;
      if (!other.matched) this.#changed.push(entry);
      other.matched = true;
      self.matched = true;
      const left = self.side === 'left' ? self.record : other.record;
      const right = self.side === 'left' ? other.record : self.record;
      this.#output({
        key: self.record.key,
        value: this.joiner(left.value, right.value),
        timestamp: Math.max(left.timestamp, right.timestamp),
        position: `${left.position}+${right.position}`,
        headers: left.headers,
      });
    }
  };

  #output(record: StreamRecord): void {
    (this.left as StreamJoinProcessor).emit(record);
  }

  #emitUnmatched(record: StreamRecord, side: 'left' | 'right'): void {
    this.#output({
      key: record.key,
      value:
        side === 'left'
          ? this.joiner(record.value, undefined)
          : this.joiner(undefined, record.value),
      timestamp: record.timestamp,
      position: side === 'left' ? `${record.position}+` : `+${record.position}`,
      headers: record.headers,
    });
  }
}

/**
 * One input of a stream–stream join. Both inputs forward through the left one's children,
 * so the join has one output whichever side a record came from.
 */
export class StreamJoinProcessor extends Processor {
  readonly #state: JoinState;
  constructor(
    context: ProcessorContext,
    private readonly side: 'left' | 'right',
    name: string,
    kind: JoinKind,
    windows: JoinWindows,
    joiner: (left: unknown, right: unknown) => unknown,
  ) {
    super();
    this.#state = context.shared(
      `join:${name}`,
      () => new JoinState(context, name, kind, windows, joiner),
    );
    if (side === 'left') this.#state.left = this;
  }
  process(record: StreamRecord): void {
    this.#state.process(this.side, record);
  }

  /** Forwards a joined record (the right input, which has no children, emits through here). */
  emit(record: StreamRecord): void {
    this.forward(record);
  }
}

/** Keeps the latest value per key of a stream (the table side of a stream–table join) and passes changes on. */
export class TableProcessor extends Processor {
  readonly #store: KeyValueStore;
  constructor(context: ProcessorContext, storeName: string) {
    super();
    this.#store = context.keyValueStore(storeName);
  }
  process(record: StreamRecord): void {
    this.#store.put(record.key, record.value);
    this.forward(record);
  }
}

/**
 * Looks each stream record's key up in a table (the latest value that reached the table
 * before this record). An inner join drops records with no table row; a left join passes
 * `undefined`. Table updates themselves emit nothing.
 */
export class StreamTableJoinProcessor extends Processor {
  readonly #table: KeyValueStore;
  constructor(
    context: ProcessorContext,
    tableStore: string,
    private readonly kind: 'inner' | 'left',
    private readonly joiner: (value: unknown, row: unknown) => unknown,
  ) {
    super();
    this.#table = context.keyValueStore(tableStore);
  }
  process(record: StreamRecord): void {
    const row = this.#table.get(record.key);
    if (row === undefined && this.kind === 'inner') return;
    this.forward({ ...record, value: this.joiner(record.value, row) });
  }
}
