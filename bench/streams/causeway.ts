import {
  JoinWindows,
  MemoryKeyValueStore,
  MemoryWindowStore,
  StreamRuntime,
  TopologyBuilder,
  Windows,
  type CommitUnit,
  type KeyValueStore,
  type StateBackend,
  type StreamRecord,
  type Topology,
  type WindowStore,
} from 'causeway';
import {
  addRevenue,
  AGGREGATION,
  JOIN,
  paidChecksum,
  paidOrder,
  type JoinInput,
  type Order,
  type Outcome,
  type PaidOrder,
  type Payment,
} from './workload.js';
import { noSample, SAMPLE_EVERY, type Sampler } from './sampling.js';

/**
 * The Causeway contestant: the same jobs as `hand.ts`, as topologies run record by record by
 * a `StreamRuntime`, committing every `COMMIT_EVERY` records as a `StreamTask` would.
 */

export const COMMIT_EVERY = 1_000;

const RESULTS = 'results';
const LATE = 'late';

export function aggregationTopology(): Topology {
  const builder = new TopologyBuilder({ name: 'bench-revenue', deadLetters: LATE });
  builder
    .stream<Order>('orders')
    .groupBy((order) => order.productId)
    .windowedBy(Windows.tumbling({ size: AGGREGATION.windowMs, grace: AGGREGATION.graceMs }))
    .aggregate('revenue', () => 0, addRevenue)
    .toStream()
    .to(RESULTS);
  return builder.build();
}

export function joinTopology(): Topology {
  const builder = new TopologyBuilder({ name: 'bench-payments', deadLetters: LATE });
  const orders = builder.stream<Order, string>('orders');
  const payments = builder.stream<Payment, string>('payments');
  orders
    .leftJoin(payments, {
      store: 'orders-payments',
      window: JoinWindows.of(JOIN.windowMs, { grace: JOIN.graceMs }),
      joiner: paidOrder,
    })
    .to(RESULTS);
  return builder.build();
}

/**
 * In-memory state whose commit tallies the outputs instead of keeping them: what is measured
 * is processing, not a list of results growing for the whole run.
 */
export class TallyingMemoryBackend implements StateBackend {
  readonly outcome: Outcome = { outputs: 0, checksum: 0, late: 0 };
  readonly #positions = new Map<string, string>();
  constructor(private readonly checksumOf: (value: unknown) => number) {}
  keyValueStore<K, V>(name: string): KeyValueStore<K, V> {
    return new MemoryKeyValueStore<K, V>(name);
  }
  windowStore<K, V>(name: string): WindowStore<K, V> {
    return new MemoryWindowStore<K, V>(name);
  }
  commit(unit: CommitUnit): void {
    for (const [source, position] of unit.positions) this.#positions.set(source, position);
    for (const output of unit.outputs) {
      if (output.sink === LATE) {
        this.outcome.late++;
        continue;
      }
      this.outcome.outputs++;
      this.outcome.checksum += this.checksumOf(output.value);
    }
  }
  committedPositions(): ReadonlyMap<string, string> {
    return this.#positions;
  }
}

/** Runs `records` through a fresh runtime of `topology`, committing every `COMMIT_EVERY`. */
function run(
  topology: Topology,
  backend: StateBackend,
  sources: readonly string[] | string,
  records: readonly StreamRecord[],
  sample: Sampler,
): void {
  const runtime = new StreamRuntime(topology, { backend });
  for (let i = 0; i < records.length; i++) {
    if ((i & SAMPLE_EVERY) === 0) sample();
    const source = typeof sources === 'string' ? sources : (sources[i] as string);
    runtime.process(source, records[i] as StreamRecord);
    if (i % COMMIT_EVERY === COMMIT_EVERY - 1) void runtime.commit();
  }
  void runtime.commit();
}

export function causewayAggregation(
  records: readonly StreamRecord[],
  sample: Sampler = noSample,
): Outcome {
  const backend = new TallyingMemoryBackend((value) => value as number);
  run(aggregationTopology(), backend, 'orders', records, sample);
  return backend.outcome;
}

export function causewayJoin(input: JoinInput, sample: Sampler = noSample): Outcome {
  const backend = new TallyingMemoryBackend((value) => paidChecksum(value as PaidOrder));
  run(joinTopology(), backend, input.sources, input.records, sample);
  return backend.outcome;
}
