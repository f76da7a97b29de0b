import { ValidationError } from '../core/errors.js';
import { TableProcessor } from './join.js';
import {
  SourceProcessor,
  type NodeDefinition,
  type Processor,
  type ProcessorContext,
} from './processor.js';
import type { StreamRecord } from './record.js';
import { Stream, StreamTable, type TopologyGraph } from './stream.js';

/** A built topology: an immutable description that any number of runtimes can run. */
export interface Topology {
  readonly name: string;
  /** The side output for late records (each carries a `causeway-dead-letter-reason` header). */
  readonly deadLetters: string;
  readonly nodes: readonly NodeDefinition[];
  readonly sources: ReadonlySet<string>;
  readonly sinks: ReadonlySet<string>;
  readonly stores: ReadonlySet<string>;
}

/**
 * Describes a stream processing topology, fluently and typed:
 * `builder.stream<Order>('orders').filter(…).groupBy(…).windowedBy(…).count('store').toStream().to('sink')`.
 * Every source, sink and store is named by the caller: names are part of the deployed
 * state (store contents, checkpoints, output topics) and must not change when code moves.
 */
export class TopologyBuilder implements TopologyGraph {
  readonly #nodes: NodeDefinition[] = [];
  readonly #sources = new Set<string>();
  readonly #sinks = new Set<string>();
  readonly #stores = new Set<string>();
  #built = false;

  /**
   * @param options.name the topology's name; output message ids are derived from it.
   * @param options.deadLetters the sink late records go to.
   */
  constructor(readonly options: { name: string; deadLetters: string }) {
    requireName('name', options.name);
    requireName('deadLetters', options.deadLetters);
    this.#sinks.add(options.deadLetters);
  }

  /**
   * A stream read from `source`. Event time is the record's timestamp (the envelope's
   * `time`) unless `timestamp` extracts another one from the record.
   */
  stream<V, K = string | null>(
    source: string,
    options: { timestamp?: (record: StreamRecord<K, V>) => number } = {},
  ): Stream<K, V> {
    requireName('source', source);
    this.#sources.add(source);
    const extractor = options.timestamp as ((record: StreamRecord) => number) | undefined;
    return new Stream(
      this,
      this.node([], () => new SourceProcessor(extractor), source),
    );
  }

  /** A table holding the latest value per key of `source`, in the key-value store `store`. */
  table<V, K = string | null>(source: string, store: string): StreamTable<K, V> {
    const stream = this.stream<V, K>(source);
    this.claimStore(store);
    return new StreamTable(
      this,
      this.node([stream.node], (context) => new TableProcessor(context, store)),
      store,
    );
  }

  /** Freezes the description. The builder cannot be changed afterwards. */
  build(): Topology {
    this.#built = true;
    return {
      name: this.options.name,
      deadLetters: this.options.deadLetters,
      nodes: [...this.#nodes],
      sources: new Set(this.#sources),
      sinks: new Set(this.#sinks),
      stores: new Set(this.#stores),
    };
  }

  /** @internal */
  node(
    parents: readonly NodeDefinition[],
    create: (context: ProcessorContext) => Processor,
    source?: string,
  ): NodeDefinition {
    if (this.#built) {
      throw new ValidationError('Topology already built', [
        { path: [], message: 'add operators before build()' },
      ]);
    }
    const definition: NodeDefinition =
      source === undefined
        ? { id: this.#nodes.length, parents, create }
        : { id: this.#nodes.length, parents, create, source };
    this.#nodes.push(definition);
    return definition;
  }

  /** @internal Store names are unique: two operators sharing one would corrupt each other. */
  claimStore(name: string): string {
    requireName('store', name);
    if (this.#stores.has(name)) {
      throw new ValidationError('Duplicate store name', [
        { path: ['store'], message: `"${name}" is already used by another operator` },
      ]);
    }
    this.#stores.add(name);
    return name;
  }

  /** @internal */
  claimSink(name: string): string {
    requireName('sink', name);
    this.#sinks.add(name);
    return name;
  }
}

function requireName(what: string, name: string): void {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new ValidationError(`Invalid ${what} name`, [
      { path: [what], message: 'must be a non-empty string' },
    ]);
  }
}
