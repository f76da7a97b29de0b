import {
  aggregationTopology,
  causewayAggregation,
  causewayJoin,
  joinTopology,
} from './causeway.js';
import { sqliteStatePass } from './durable.js';
import { handAggregation, handJoin } from './hand.js';
import type { Sampler } from './sampling.js';
import {
  aggregationInput,
  joinInput,
  paidChecksum,
  type Outcome,
  type PaidOrder,
} from './workload.js';

/**
 * The suite's jobs: each generates its input once and offers one pass per contestant over
 * it. Shared by the timed rounds (`streams.bench.ts`) and the memory probe (a child process
 * per contestant, so each peak RSS is its own).
 */
export interface Job {
  /** What the case is called in the results. */
  title: string;
  /** Generates the input (untimed) and returns one pass per contestant. */
  prepare(records: number): Prepared;
}

export interface Prepared {
  /** Facts about the input worth printing (late records, sides). */
  describe: string;
  contestants: Record<Contestant, (sample?: Sampler) => Outcome>;
  /** One pass of the Causeway topology with durable state (SQLite). */
  durable(): Promise<Outcome>;
}

export const CONTESTANTS = ['hand', 'causeway'] as const;
export type Contestant = (typeof CONTESTANTS)[number];

export type JobName = 'aggregation' | 'join';

export const JOBS: Record<JobName, Job> = {
  aggregation: {
    title: 'tumbling-window aggregation: revenue per product per minute (1 000 products)',
    prepare(records) {
      const input = aggregationInput(records);
      return {
        describe: `${input.records.length} orders, ${input.lateRecords} of them 30 s behind`,
        contestants: {
          hand: (sample) => handAggregation(input.records, sample),
          causeway: (sample) => causewayAggregation(input.records, sample),
        },
        durable: () =>
          sqliteStatePass(aggregationTopology(), 'orders', input.records, (v) => v as number),
      };
    },
  },
  join: {
    title: 'windowed left join: orders with payments within 30 s',
    prepare(records) {
      const input = joinInput(records);
      const orders = input.sources.filter((source) => source === 'orders').length;
      return {
        describe: `${orders} orders and ${input.records.length - orders} payments`,
        contestants: {
          hand: (sample) => handJoin(input, sample),
          causeway: (sample) => causewayJoin(input, sample),
        },
        durable: () =>
          sqliteStatePass(joinTopology(), input.sources, input.records, (v) =>
            paidChecksum(v as PaidOrder),
          ),
      };
    },
  },
};
