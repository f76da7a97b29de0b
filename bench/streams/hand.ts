import type { StreamRecord } from 'causeway';
import {
  addRevenue,
  AGGREGATION,
  JOIN,
  paidChecksum,
  paidOrder,
  type JoinInput,
  type Order,
  type Outcome,
  type Payment,
} from './workload.js';
import { noSample, SAMPLE_EVERY, type Sampler } from './sampling.js';

/**
 * The baselines: what a careful programmer writes by hand for one job, in plain TypeScript,
 * with the same semantics as the topology (event-time windows, a watermark of highest event
 * time minus grace, final results when a window closes, late records counted, not added) —
 * but none of the generality: no record objects between steps, no store interface, no
 * deterministic output ids, no dead-letter records.
 */

/** Revenue per product per 1-minute tumbling window: a map of open windows, each a map per product. */
export function handAggregation(
  records: readonly StreamRecord<null, Order>[],
  sample: Sampler = noSample,
): Outcome {
  const { windowMs, graceMs } = AGGREGATION;
  const open = new Map<number, Map<string, number>>();
  let earliestEnd = Infinity;
  let streamTime = -Infinity;
  const outcome: Outcome = { outputs: 0, checksum: 0, late: 0 };
  for (let i = 0; i < records.length; i++) {
    if ((i & SAMPLE_EVERY) === 0) sample();
    const record = records[i] as StreamRecord<null, Order>;
    const t = record.timestamp;
    if (t > streamTime) {
      streamTime = t;
      if (earliestEnd <= streamTime - graceMs) {
        earliestEnd = Infinity;
        for (const [start, totals] of open) {
          if (start + windowMs <= streamTime - graceMs) {
            for (const total of totals.values()) {
              outcome.outputs++;
              outcome.checksum += total;
            }
            open.delete(start);
          } else earliestEnd = Math.min(earliestEnd, start + windowMs);
        }
      }
    }
    const start = t - (t % windowMs);
    if (start + windowMs <= streamTime - graceMs) {
      outcome.late++;
      continue;
    }
    let totals = open.get(start);
    if (totals === undefined) {
      open.set(start, (totals = new Map()));
      earliestEnd = Math.min(earliestEnd, start + windowMs);
    }
    const order = record.value;
    totals.set(order.productId, addRevenue(totals.get(order.productId) ?? 0, order));
  }
  return outcome;
}

interface Buffered {
  readonly record: StreamRecord<string, Order | Payment>;
  readonly isOrder: boolean;
  /** Past this event time (plus grace) nothing on time can match it any more. */
  readonly reach: number;
  matched: boolean;
}

/**
 * Orders left-joined with payments within 30 s: both sides buffered per order id, and every
 * buffered record in a bucket per millisecond of its reach, which a cursor walks up to the
 * watermark to evict (and list unpaid orders). A record on time has a reach past the
 * watermark, so nothing lands behind the cursor.
 */
export function handJoin(input: JoinInput, sample: Sampler = noSample): Outcome {
  const { windowMs, graceMs } = JOIN;
  const { sources, records } = input;
  const byKey = new Map<string, Buffered[]>();
  const byReach = new Map<number, Buffered[]>();
  let cursor = NaN;
  let streamTime = -Infinity;
  const outcome: Outcome = { outputs: 0, checksum: 0, late: 0 };
  for (let i = 0; i < records.length; i++) {
    if ((i & SAMPLE_EVERY) === 0) sample();
    const record = records[i] as StreamRecord<string, Order | Payment>;
    const t = record.timestamp;
    if (t > streamTime) {
      streamTime = t;
      const watermark = streamTime - graceMs;
      if (Number.isNaN(cursor)) cursor = watermark;
      for (; cursor < watermark; cursor++) {
        const bucket = byReach.get(cursor);
        if (bucket === undefined) continue;
        byReach.delete(cursor);
        for (const gone of bucket) {
          const buffered = byKey.get(gone.record.key) as Buffered[];
          if (buffered.length === 1) byKey.delete(gone.record.key);
          else buffered.splice(buffered.indexOf(gone), 1);
          if (gone.isOrder && !gone.matched) {
            outcome.outputs++;
            outcome.checksum += paidChecksum(paidOrder(gone.record.value as Order, undefined));
          }
        }
      }
    }
    if (t < streamTime - graceMs) {
      outcome.late++;
      continue;
    }
    const self: Buffered = {
      record,
      isOrder: sources[i] === 'orders',
      reach: t + windowMs,
      matched: false,
    };
    let buffered = byKey.get(record.key);
    if (buffered === undefined) byKey.set(record.key, (buffered = []));
    for (const other of buffered) {
      if (other.isOrder === self.isOrder) continue;
      if (other.record.timestamp < t - windowMs || other.record.timestamp > t + windowMs) continue;
      other.matched = self.matched = true;
      const [order, payment] = self.isOrder ? [record, other.record] : [other.record, record];
      outcome.outputs++;
      outcome.checksum += paidChecksum(paidOrder(order.value as Order, payment.value as Payment));
    }
    buffered.push(self);
    const bucket = byReach.get(self.reach);
    if (bucket === undefined) byReach.set(self.reach, [self]);
    else bucket.push(self);
  }
  return outcome;
}
