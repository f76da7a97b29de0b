import type { StreamRecord } from './record.js';
import type { KeyValueStore, WindowStore } from './stores.js';
import type { TimeWindow } from './record.js';

/** What a running processor may do besides forwarding: reach stores, write to sinks, dead-letter. */
export interface ProcessorContext {
  keyValueStore<K, V>(name: string): KeyValueStore<K, V>;
  windowStore<K, V>(name: string): WindowStore<K, V>;
  emit(sink: string, record: StreamRecord): void;
  /** Sends a record that arrived after its window closed to the side output, and counts it. */
  late(operator: string, record: StreamRecord, watermark: number, window?: TimeWindow): void;
  /** One shared object per runtime and key: the two inputs of a join share their state. */
  shared<T>(key: string, create: () => T): T;
}

/**
 * A node of a running topology. `process` runs synchronously, once per record, and hands
 * its results to `children` before returning, so a record goes through the whole topology
 * in one call stack — no queues, no promises, no per-record allocations beyond the records.
 */
export abstract class Processor {
  readonly children: Processor[] = [];
  abstract process(record: StreamRecord): void;

  protected forward(record: StreamRecord): void {
    const children = this.children;
    for (let i = 0; i < children.length; i++) (children[i] as Processor).process(record);
  }
}

/** A node of the topology's description; `create` makes its processor for one runtime. */
export interface NodeDefinition {
  readonly id: number;
  readonly parents: readonly NodeDefinition[];
  /** The source a root node reads; `undefined` for every other node. */
  readonly source?: string;
  create(context: ProcessorContext): Processor;
}

/** Passes records on unchanged (merges, branch outlets, sources without an extractor). */
export class PassThrough extends Processor {
  process(record: StreamRecord): void {
    this.forward(record);
  }
}

export class SourceProcessor extends Processor {
  constructor(private readonly timestampOf: ((record: StreamRecord) => number) | undefined) {
    super();
  }
  process(record: StreamRecord): void {
    const timestampOf = this.timestampOf;
    if (timestampOf === undefined) return this.forward(record);
    this.forward({ ...record, timestamp: timestampOf(record) });
  }
}

export class FilterProcessor extends Processor {
  constructor(private readonly keep: (value: unknown, record: StreamRecord) => boolean) {
    super();
  }
  process(record: StreamRecord): void {
    if (this.keep(record.value, record)) this.forward(record);
  }
}

export class MapProcessor extends Processor {
  constructor(private readonly map: (value: unknown, record: StreamRecord) => unknown) {
    super();
  }
  process(record: StreamRecord): void {
    this.forward({
      key: record.key,
      value: this.map(record.value, record),
      timestamp: record.timestamp,
      position: record.position,
      headers: record.headers,
    });
  }
}

export class SelectKeyProcessor extends Processor {
  constructor(private readonly keyOf: (value: unknown, record: StreamRecord) => unknown) {
    super();
  }
  process(record: StreamRecord): void {
    this.forward({
      key: this.keyOf(record.value, record),
      value: record.value,
      timestamp: record.timestamp,
      position: record.position,
      headers: record.headers,
    });
  }
}

export class FlatMapProcessor extends Processor {
  constructor(
    private readonly expand: (value: unknown, record: StreamRecord) => Iterable<unknown>,
  ) {
    super();
  }
  process(record: StreamRecord): void {
    let index = 0;
    for (const value of this.expand(record.value, record)) {
      // Each output of one input needs its own position, or their derived ids would collide.
      this.forward({
        key: record.key,
        value,
        timestamp: record.timestamp,
        position: `${record.position}#${index++}`,
        headers: record.headers,
      });
    }
  }
}

export class PeekProcessor extends Processor {
  constructor(private readonly look: (value: unknown, record: StreamRecord) => void) {
    super();
  }
  process(record: StreamRecord): void {
    this.look(record.value, record);
    this.forward(record);
  }
}

/** Sends each record down the first branch whose predicate holds; `children[i]` is branch `i`. */
export class BranchProcessor extends Processor {
  constructor(
    private readonly predicates: ReadonlyArray<(value: unknown, record: StreamRecord) => boolean>,
  ) {
    super();
  }
  process(record: StreamRecord): void {
    for (let i = 0; i < this.predicates.length; i++) {
      if (
        (this.predicates[i] as (value: unknown, record: StreamRecord) => boolean)(
          record.value,
          record,
        )
      ) {
        (this.children[i] as Processor).process(record);
        return;
      }
    }
  }
}

export class SinkProcessor extends Processor {
  constructor(
    private readonly context: ProcessorContext,
    private readonly sink: string,
  ) {
    super();
  }
  process(record: StreamRecord): void {
    this.context.emit(this.sink, record);
  }
}
