import { ManualClock } from '../core/clock.js';
import type { RecordedEvent } from '../event-store/types.js';
import type { Message } from '../messaging/message.js';
import {
  recordFromEvent,
  recordFromMessage,
  type OutputRecord,
  type StreamRecord,
} from '../streams/record.js';
import { StreamRuntime, type StreamMetrics } from '../streams/runtime.js';
import { MemoryStateBackend, type KeyValueStore, type WindowStore } from '../streams/stores.js';
import type { Topology } from '../streams/topology.js';

/** A wall clock the driver can move: `ManualClock` or `VirtualTime` both fit. */
export interface DriverClock {
  now(): Date;
  advance(ms: number): void | Promise<void>;
}

/** How `pipe` builds a record; every field has a default. */
export interface PipeOptions<K> {
  key?: K;
  /** Event time; defaults to the driver's wall clock now. */
  timestamp?: number | Date;
  headers?: Record<string, string>;
}

/**
 * Runs a topology in memory, one record at a time, with a wall clock that moves only when
 * told to: pipe records with timestamps, advance the clock, read what each sink received.
 * Every `pipe` commits, so `read` sees exactly what a real runtime would have committed.
 * Nothing sleeps and nothing depends on real time.
 *
 * ```ts
 * const driver = new TopologyTestDriver(topology);
 * driver.pipe('orders', { productId: 'p1', amount: 5 }, { timestamp: 1_000 });
 * driver.read('revenue'); // → OutputRecord[] since the last read
 * ```
 */
export class TopologyTestDriver {
  readonly runtime: StreamRuntime;
  readonly backend = new MemoryStateBackend();
  readonly clock: DriverClock;
  readonly #offsets = new Map<string, number>();
  #readUpTo = 0;
  readonly #unread = new Map<string, OutputRecord[]>();

  constructor(topology: Topology, options: { clock?: DriverClock } = {}) {
    this.clock = options.clock ?? new ManualClock(Date.UTC(2026, 0, 1));
    this.runtime = new StreamRuntime(topology, { backend: this.backend });
  }

  /** Pipes a value into `source` at `<source>:<n>`, the n-th record piped there. */
  pipe<V, K = string | null>(
    source: string,
    value: V,
    options: PipeOptions<K> = {},
  ): StreamRecord<K | null, V> {
    const offset = this.#offsets.get(source) ?? 0;
    this.#offsets.set(source, offset + 1);
    const timestamp = options.timestamp ?? this.clock.now();
    const record: StreamRecord<K | null, V> = {
      key: options.key === undefined ? null : options.key,
      value,
      timestamp: typeof timestamp === 'number' ? timestamp : timestamp.getTime(),
      position: `${source}:${offset}`,
      headers: options.headers ?? {},
    };
    this.#run(source, record);
    return record;
  }

  /** Pipes a transport message (key: `partitionkey`, timestamp: `time`). */
  pipeMessage(source: string, message: Message): void {
    const offset = this.#offsets.get(source) ?? 0;
    this.#offsets.set(source, offset + 1);
    this.#run(source, recordFromMessage(message, `${source}:${offset}`));
  }

  /** Pipes a stored event (key: stream id, position: global position). */
  pipeEvent(source: string, event: RecordedEvent): void {
    this.#run(source, recordFromEvent(event, source));
  }

  /**
   * Moves the wall clock. Windows and joins run on event time, so this closes nothing: it
   * only changes the default timestamp of later `pipe`s.
   */
  async advanceWallClock(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  /** Records committed to `sink` since the last `read` of it, in emission order. */
  read<K = unknown, V = unknown>(sink: string): OutputRecord<K, V>[] {
    this.#collect();
    const records = this.#unread.get(sink) ?? [];
    this.#unread.set(sink, []);
    return records as OutputRecord<K, V>[];
  }

  /** Just the values of `read(sink)`. */
  readValues<V = unknown>(sink: string): V[] {
    return this.read<unknown, V>(sink).map((record) => record.value);
  }

  /** Late records since the last call: the topology's dead-letter sink. */
  readDeadLetters<K = unknown, V = unknown>(): OutputRecord<K, V>[] {
    return this.read<K, V>(this.runtime.topology.deadLetters);
  }

  get metrics(): StreamMetrics {
    return this.runtime.metrics;
  }

  /** A state store by name, e.g. to assert its `size` stays bounded. */
  store(name: string): KeyValueStore | WindowStore | undefined {
    return this.runtime.store(name);
  }

  #run(source: string, record: StreamRecord): void {
    this.runtime.process(source, record);
    void this.runtime.commit(); // synchronous on the memory backend
  }

  #collect(): void {
    const committed = this.backend.committedOutputs;
    for (; this.#readUpTo < committed.length; this.#readUpTo++) {
      const record = committed[this.#readUpTo] as OutputRecord;
      const list = this.#unread.get(record.sink) ?? [];
      list.push(record);
      this.#unread.set(record.sink, list);
    }
  }
}
