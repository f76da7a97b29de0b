import {
  KeyAggregateProcessor,
  SessionAggregateProcessor,
  TimeWindowAggregateProcessor,
  type Aggregator,
  type GroupKey,
} from './aggregate.js';
import { StreamJoinProcessor, StreamTableJoinProcessor, type JoinKind } from './join.js';
import {
  BranchProcessor,
  FilterProcessor,
  FlatMapProcessor,
  MapProcessor,
  PassThrough,
  PeekProcessor,
  SelectKeyProcessor,
  SinkProcessor,
  type NodeDefinition,
  type Processor,
  type ProcessorContext,
} from './processor.js';
import type { StreamRecord, Windowed } from './record.js';
import type {
  EmitMode,
  HoppingWindows,
  JoinWindows,
  SessionWindows,
  TumblingWindows,
} from './windows.js';

/**
 * The typed, fluent half of the topology API: streams, grouped streams and tables. Each
 * operator adds a node to a `TopologyGraph` (the builder in `topology.ts`, which creates the
 * first streams), so this module needs the graph's three methods, never the builder itself.
 */

/** The graph under construction, as the fluent classes use it (`TopologyBuilder` implements it). */
export interface TopologyGraph {
  /** Adds a node whose processor `create` makes for each runtime. */
  node(
    parents: readonly NodeDefinition[],
    create: (context: ProcessorContext) => Processor,
  ): NodeDefinition;
  /** Reserves a store name (unique per topology). */
  claimStore(name: string): string;
  /** Declares a sink. */
  claimSink(name: string): string;
}

/** What a callback sees besides the value: the whole record (key, timestamp, headers). */
type Fn<K, V, R> = (value: V, record: StreamRecord<K, V>) => R;

// Operators are stored type-erased; the fluent classes below keep the types for the user.
type AnyFn = (value: unknown, record: StreamRecord) => never;
const erase = (fn: unknown) => fn as AnyFn;

/** A stream of records keyed by `K` with values `V`. */
export class Stream<K, V> {
  /** @internal */
  constructor(
    protected readonly builder: TopologyGraph,
    /** @internal */ readonly node: NodeDefinition,
  ) {}

  #then<K2, V2>(create: (context: ProcessorContext) => Processor): Stream<K2, V2> {
    return new Stream(this.builder, this.builder.node([this.node], create));
  }

  filter(keep: Fn<K, V, boolean>): Stream<K, V> {
    return this.#then(() => new FilterProcessor(erase(keep)));
  }

  /** Maps each value; the key, timestamp and position stay. */
  map<V2>(map: Fn<K, V, V2>): Stream<K, V2> {
    return this.#then(() => new MapProcessor(erase(map)));
  }

  /** Maps each value to zero or more values. */
  flatMap<V2>(expand: Fn<K, V, Iterable<V2>>): Stream<K, V2> {
    return this.#then(() => new FlatMapProcessor(erase(expand)));
  }

  /** Gives each record a new key (before grouping or joining on it). */
  selectKey<K2>(keyOf: Fn<K, V, K2>): Stream<K2, V> {
    return this.#then(() => new SelectKeyProcessor(erase(keyOf)));
  }

  /** Calls `look` for each record (logging, metrics) and passes it on unchanged. */
  peek(look: Fn<K, V, void>): Stream<K, V> {
    return this.#then(() => new PeekProcessor(erase(look)));
  }

  /**
   * Splits the stream: each record goes to the first branch whose predicate holds, or to
   * none. `branch({ large: (o) => o.total > 100, small: () => true })`.
   */
  branch<const B extends string>(
    predicates: Record<B, Fn<K, V, boolean>>,
  ): Record<B, Stream<K, V>> {
    const names = Object.keys(predicates) as B[];
    const router = this.builder.node(
      [this.node],
      () => new BranchProcessor(names.map((name) => erase(predicates[name]))),
    );
    const branches = {} as Record<B, Stream<K, V>>;
    for (const name of names) {
      branches[name] = new Stream(
        this.builder,
        this.builder.node([router], () => new PassThrough()),
      );
    }
    return branches;
  }

  /** One stream of both streams' records, in the order they arrive. */
  merge(other: Stream<K, V>): Stream<K, V> {
    return new Stream(
      this.builder,
      this.builder.node([this.node, other.node], () => new PassThrough()),
    );
  }

  groupByKey(): GroupedStream<K, V> {
    return new GroupedStream(this.builder, this.node, undefined);
  }

  /**
   * Re-keys then groups: `groupBy((order) => order.productId)`. Same as
   * `selectKey(fn).groupByKey()`, but the aggregation applies `fn` itself (no record per input).
   */
  groupBy<K2>(keyOf: Fn<K, V, K2>): GroupedStream<K2, V> {
    return new GroupedStream(this.builder, this.node, erase(keyOf));
  }

  /** Records of both streams with the same key and timestamps within `window` of each other. */
  join<R, J>(other: Stream<K, R>, options: JoinOptions<V, R, J>): Stream<K, J> {
    return this.#join('inner', other, options as JoinOptions<unknown, unknown, unknown>);
  }

  /** As `join`; a left record that found no match is emitted once, as `joiner(left, undefined)`, when its window closes. */
  leftJoin<R, J>(other: Stream<K, R>, options: JoinOptions<V, R | undefined, J>): Stream<K, J> {
    return this.#join('left', other, options as JoinOptions<unknown, unknown, unknown>);
  }

  /** As `leftJoin`, and unmatched right records are emitted as `joiner(undefined, right)`. */
  outerJoin<R, J>(
    other: Stream<K, R>,
    options: JoinOptions<V | undefined, R | undefined, J>,
  ): Stream<K, J> {
    return this.#join('outer', other, options as JoinOptions<unknown, unknown, unknown>);
  }

  #join<J>(
    kind: JoinKind,
    other: Stream<K, unknown>,
    options: JoinOptions<unknown, unknown, unknown>,
  ): Stream<K, J> {
    const { store, window, joiner } = options;
    this.builder.claimStore(store);
    const left = this.builder.node(
      [this.node],
      (context) => new StreamJoinProcessor(context, 'left', store, kind, window, joiner),
    );
    this.builder.node(
      [other.node],
      (context) => new StreamJoinProcessor(context, 'right', store, kind, window, joiner),
    );
    return new Stream(this.builder, left);
  }

  /** Each record with its key's current row of `table`; records without a row are dropped. */
  joinTable<T, J>(table: StreamTable<K, T>, joiner: (value: V, row: T) => J): Stream<K, J> {
    return this.#then(
      (context) =>
        new StreamTableJoinProcessor(
          context,
          table.store,
          'inner',
          joiner as (v: unknown, r: unknown) => unknown,
        ),
    );
  }

  /** As `joinTable`, and records without a row get `undefined`. */
  leftJoinTable<T, J>(
    table: StreamTable<K, T>,
    joiner: (value: V, row: T | undefined) => J,
  ): Stream<K, J> {
    return this.#then(
      (context) =>
        new StreamTableJoinProcessor(
          context,
          table.store,
          'left',
          joiner as (v: unknown, r: unknown) => unknown,
        ),
    );
  }

  /** Writes every record to the sink named `sink`. */
  to(sink: string): void {
    const name = this.builder.claimSink(sink);
    this.builder.node([this.node], (context) => new SinkProcessor(context, name));
  }
}

/** A stream–stream join: the store holding both sides' records, the window and the joiner. */
export interface JoinOptions<L, R, J> {
  store: string;
  window: JoinWindows;
  joiner: (left: L, right: R) => J;
}

const counting: Aggregator = {
  init: () => 0,
  add: (count) => (count as number) + 1,
  merge: (a, b) => (a as number) + (b as number),
};

function reducing(reduce: (a: unknown, b: unknown) => unknown): Aggregator {
  // `undefined` marks "no value yet": the first value becomes the aggregate as it is.
  return {
    init: () => undefined,
    add: (aggregate, value) => (aggregate === undefined ? value : reduce(aggregate, value)),
    merge: reduce,
  };
}

/** A stream grouped by key, ready to aggregate. */
export class GroupedStream<K, V> {
  /** @internal */
  constructor(
    private readonly builder: TopologyGraph,
    private readonly node: NodeDefinition,
    private readonly keyOf: GroupKey,
  ) {}

  #aggregate<A>(store: string, aggregator: Aggregator): StreamTable<K, A> {
    this.builder.claimStore(store);
    const keyOf = this.keyOf;
    const node = this.builder.node(
      [this.node],
      (context) => new KeyAggregateProcessor(context, store, aggregator, keyOf),
    );
    return new StreamTable(this.builder, node, store);
  }

  count(store: string): StreamTable<K, number> {
    return this.#aggregate(store, counting);
  }

  reduce(store: string, reduce: (aggregate: V, value: V) => V): StreamTable<K, V> {
    return this.#aggregate(store, reducing(reduce as (a: unknown, b: unknown) => unknown));
  }

  aggregate<A>(
    store: string,
    init: () => A,
    add: (aggregate: A, value: V, key: K) => A,
  ): StreamTable<K, A> {
    return this.#aggregate(store, { init, add: add as Aggregator['add'] });
  }

  /**
   * Aggregates per key and window. `emit: 'final'` (the default) emits each window once,
   * when it closes; `'update'` emits after every record.
   */
  windowedBy(
    windows: TumblingWindows | HoppingWindows,
    options?: { emit?: EmitMode },
  ): WindowedStream<K, V>;
  windowedBy(windows: SessionWindows, options?: { emit?: EmitMode }): SessionWindowedStream<K, V>;
  windowedBy(
    windows: TumblingWindows | HoppingWindows | SessionWindows,
    options: { emit?: EmitMode } = {},
  ): WindowedStream<K, V> | SessionWindowedStream<K, V> {
    const emit = options.emit ?? 'final';
    const keyOf = this.keyOf;
    if (windows.kind === 'session') {
      return new SessionWindowedStream(
        this.builder,
        this.node,
        (context, store, aggregator) =>
          new SessionAggregateProcessor(context, store, windows, emit, aggregator, keyOf),
      );
    }
    return new WindowedStream(
      this.builder,
      this.node,
      (context, store, aggregator) =>
        new TimeWindowAggregateProcessor(context, store, windows, emit, aggregator, keyOf),
    );
  }
}

type WindowProcessorFactory = (
  context: ProcessorContext,
  store: string,
  aggregator: Aggregator,
) => Processor;

/** What every windowed grouping offers: `count` and `reduce`, one window store each. */
abstract class WindowedAggregations<K, V> {
  /** @internal */
  constructor(
    private readonly builder: TopologyGraph,
    private readonly node: NodeDefinition,
    private readonly create: WindowProcessorFactory,
  ) {}

  protected aggregateWith<A>(store: string, aggregator: Aggregator): WindowedTable<K, A> {
    this.builder.claimStore(store);
    const create = this.create;
    const node = this.builder.node([this.node], (context) => create(context, store, aggregator));
    return new WindowedTable(this.builder, node);
  }

  count(store: string): WindowedTable<K, number> {
    return this.aggregateWith(store, counting);
  }

  reduce(store: string, reduce: (aggregate: V, value: V) => V): WindowedTable<K, V> {
    return this.aggregateWith(store, reducing(reduce as (a: unknown, b: unknown) => unknown));
  }
}

/** A grouped stream with tumbling or hopping windows. */
export class WindowedStream<K, V> extends WindowedAggregations<K, V> {
  aggregate<A>(
    store: string,
    init: () => A,
    add: (aggregate: A, value: V, key: K) => A,
  ): WindowedTable<K, A> {
    return this.aggregateWith(store, { init, add: add as Aggregator['add'] });
  }
}

/** A grouped stream with session windows: aggregates need `merge` for when sessions join up. */
export class SessionWindowedStream<K, V> extends WindowedAggregations<K, V> {
  aggregate<A>(
    store: string,
    init: () => A,
    add: (aggregate: A, value: V, key: K) => A,
    merge: (left: A, right: A, key: K) => A,
  ): WindowedTable<K, A> {
    return this.aggregateWith(store, {
      init,
      add: add as Aggregator['add'],
      merge: merge as NonNullable<Aggregator['merge']>,
    });
  }
}

/** The latest value per key: an aggregate, or `builder.table(…)`. Streams can join it. */
export class StreamTable<K, V> {
  /** @internal */
  constructor(
    private readonly builder: TopologyGraph,
    private readonly node: NodeDefinition,
    /** The key-value store holding the table. */
    readonly store: string,
  ) {}

  /** Every change of the table, as a stream. */
  toStream(): Stream<K, V> {
    return new Stream(this.builder, this.node);
  }
}

/** The result of a windowed aggregation, keyed by `Windowed<K>`. */
export class WindowedTable<K, V> {
  /** @internal */
  constructor(
    private readonly builder: TopologyGraph,
    private readonly node: NodeDefinition,
  ) {}

  /** The windows' results as a stream: final values, or every update (see `windowedBy`). */
  toStream(): Stream<Windowed<K>, V> {
    return new Stream(this.builder, this.node);
  }
}
