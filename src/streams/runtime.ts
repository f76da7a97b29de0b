import { hash } from 'node:crypto';
import { ValidationError } from '../core/errors.js';
import { OperatorFailedError } from './errors.js';
import type { Processor, ProcessorContext } from './processor.js';
import type { OutputRecord, StreamRecord, TimeWindow } from './record.js';
import {
  MemoryStateBackend,
  type KeyValueStore,
  type StateBackend,
  type WindowStore,
} from './stores.js';
import type { Topology } from './topology.js';

interface SourceState {
  readonly roots: Processor[];
  position: string | undefined;
}

/** Counters a runtime keeps; read them for dashboards and alerts. */
export interface StreamMetrics {
  recordsIn: number;
  recordsOut: number;
  /** Records that arrived after their window closed (all of them went to the dead-letter sink). */
  lateRecords: number;
  lateByOperator: Record<string, number>;
}

/** Headers a late record carries on the dead-letter sink. */
export const DEAD_LETTER_HEADERS = {
  reason: 'causeway-dead-letter-reason',
  operator: 'causeway-operator',
  watermark: 'causeway-watermark',
  windowStart: 'causeway-window-start',
  windowEnd: 'causeway-window-end',
} as const;

/**
 * A deterministic message id (UUID layout, version 8) for an output: the same topology,
 * sink and position always give the same id, so outputs re-produced after a crash are
 * recognised by consumers' inboxes and by brokers' de-duplication.
 */
export function outputMessageId(topology: string, sink: string, position: string): string {
  // One-shot `hash`: no Hash object per output (a join emits one output per matched pair).
  const hex = hash('sha256', `${topology}\u0000${sink}\u0000${position}`, 'hex');
  const variant = ((parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Runs a topology: `process(source, record)` pushes one record through every operator,
 * synchronously; outputs collect until `commit()` hands them, with each source's position,
 * to the state backend in one unit. Time inside the topology is event time only: nothing
 * here reads a clock, so windows close when data says so, never because the wall clock moved.
 */
export class StreamRuntime {
  readonly metrics: StreamMetrics = {
    recordsIn: 0,
    recordsOut: 0,
    lateRecords: 0,
    lateByOperator: {},
  };
  readonly backend: StateBackend;
  /** Per source: its root processors and the position of the last record processed from it. */
  readonly #sources = new Map<string, SourceState>();
  // The source of the previous record: consecutive records mostly share one, so a string
  // comparison usually replaces the map lookup.
  #lastSource: string | undefined;
  #lastState: SourceState | undefined;
  readonly #stores = new Map<string, KeyValueStore | WindowStore>();
  readonly #shared = new Map<string, unknown>();
  #pending: OutputRecord[] = [];
  #failure: OperatorFailedError | undefined;

  constructor(
    readonly topology: Topology,
    options: { backend?: StateBackend } = {},
  ) {
    this.backend = options.backend ?? new MemoryStateBackend();
    const context = this.#context();
    const processors: Processor[] = [];
    for (const node of topology.nodes) {
      const processor = node.create(context);
      processors[node.id] = processor;
      for (const parent of node.parents)
        (processors[parent.id] as Processor).children.push(processor);
      if (node.source !== undefined) {
        const state = this.#sources.get(node.source) ?? { roots: [], position: undefined };
        state.roots.push(processor);
        this.#sources.set(node.source, state);
      }
    }
  }

  /** Pushes one record from `source` through the topology. */
  process(source: string, record: StreamRecord): void {
    const state =
      source === this.#lastSource ? (this.#lastState as SourceState) : this.#sources.get(source);
    if (state === undefined) {
      throw new ValidationError('Unknown source', [
        {
          path: ['source'],
          message: `topology "${this.topology.name}" reads no source "${source}"`,
        },
      ]);
    }
    this.#lastSource = source;
    this.#lastState = state;
    if (this.#failure) throw this.#failure;
    this.metrics.recordsIn++;
    const roots = state.roots;
    try {
      for (let i = 0; i < roots.length; i++) (roots[i] as Processor).process(record);
    } catch (error) {
      this.#failure = new OperatorFailedError(source, record.position, error);
      throw this.#failure;
    }
    state.position = record.position;
  }

  /** Outputs produced since the last commit. */
  get pending(): readonly OutputRecord[] {
    return this.#pending;
  }

  /** Hands the outputs since the last commit and every source's position to the backend, as one unit. */
  commit(): void | Promise<void> {
    if (this.#failure) throw this.#failure;
    const outputs = this.#pending;
    this.#pending = [];
    const positions = new Map<string, string>();
    for (const [name, { position }] of this.#sources) {
      if (position !== undefined) positions.set(name, position);
    }
    return this.backend.commit({ positions, outputs });
  }

  /** A store by name (sizes in tests, interactive queries). */
  store(name: string): KeyValueStore | WindowStore | undefined {
    return this.#stores.get(name);
  }

  #emit(sink: string, record: StreamRecord): void {
    this.metrics.recordsOut++;
    this.#pending.push({
      key: record.key,
      value: record.value,
      timestamp: record.timestamp,
      position: record.position,
      headers: record.headers,
      sink,
      id: outputMessageId(this.topology.name, sink, record.position),
    });
  }

  #context(): ProcessorContext {
    const stores = this.#stores;
    const backend = () => this.backend;
    return {
      keyValueStore: <K, V>(name: string) => {
        let store = stores.get(name);
        if (!store)
          stores.set(name, (store = backend().keyValueStore<K, V>(name) as KeyValueStore));
        return store as KeyValueStore<K, V>;
      },
      windowStore: <K, V>(name: string) => {
        let store = stores.get(name);
        if (!store) stores.set(name, (store = backend().windowStore<K, V>(name) as WindowStore));
        return store as WindowStore<K, V>;
      },
      emit: (sink, record) => this.#emit(sink, record),
      late: (operator, record, watermark, window) =>
        this.#late(operator, record, watermark, window),
      shared: <T>(key: string, create: () => T): T => {
        if (!this.#shared.has(key)) this.#shared.set(key, create());
        return this.#shared.get(key) as T;
      },
    };
  }

  #late(
    operator: string,
    record: StreamRecord,
    watermark: number,
    window: TimeWindow | undefined,
  ): void {
    this.metrics.lateRecords++;
    this.metrics.lateByOperator[operator] = (this.metrics.lateByOperator[operator] ?? 0) + 1;
    const headers: Record<string, string> = {
      ...record.headers,
      [DEAD_LETTER_HEADERS.reason]: 'late',
      [DEAD_LETTER_HEADERS.operator]: operator,
      [DEAD_LETTER_HEADERS.watermark]: String(watermark),
    };
    if (window) {
      headers[DEAD_LETTER_HEADERS.windowStart] = String(window.start);
      headers[DEAD_LETTER_HEADERS.windowEnd] = String(window.end);
    }
    this.#emit(this.topology.deadLetters, {
      ...record,
      position: `${operator}/${record.position}`,
      headers,
    });
  }
}
