import { formatRate, ratio, type CaseResult, type Rate, type SuiteContext } from '../harness.js';
import { describeError, median } from './workload.js';

/**
 * How the transports suite measures a case: both sides opened on fresh names, warmed up, then
 * taking turns round by round; each figure is the median of its rounds (a rate, or a latency
 * percentile), the ratio is against the raw client's.
 */

const SIDES = ['baseline', 'causeway'] as const;
type Side = (typeof SIDES)[number];

/** How to open a side of a case, or why it cannot run. */
export type Entrant<C> = { label: string; open: () => Promise<C> } | { reason: string };

export interface Entrants<C> {
  baseline: Entrant<C>;
  causeway: Entrant<C>;
}

interface Closable {
  close(): Promise<void>;
}

/** One round of one side: a rate, and for end-to-end rounds the latencies. */
export interface RoundResult {
  rate: Rate;
  latencies?: number[];
}

export interface CaseSpec<C> {
  name: string;
  unit: string;
  /** One timed round; `warmupMs` is non-zero only for the untimed warm-up call. */
  round: (contestant: C, windowMs: number, warmupMs: number) => Promise<RoundResult>;
}

export interface Running<C = Closable> {
  side: Side;
  label: string;
  contestant?: C;
  rounds: RoundResult[];
  failure?: string;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

/**
 * Opens both sides on fresh names, warms each up, then lets them take turns for
 * `config.rounds` rounds; each figure is the median of its rounds. A side that fails drops
 * out with its reason; the baseline failing leaves the case without figures (noted).
 */
export async function runCase<C extends Closable>(
  spec: CaseSpec<C>,
  entrants: Entrants<C>,
  context: SuiteContext,
): Promise<Running<C>[]> {
  const { config } = context;
  context.progress(spec.name);
  const running: Running<C>[] = [];
  const window = Math.max(1, Math.round(config.durationMs / config.rounds));
  try {
    for (const side of SIDES) {
      const entrant = entrants[side];
      const entry: Running<C> = {
        side,
        label: 'label' in entrant ? entrant.label : side,
        rounds: [],
      };
      running.push(entry);
      if ('reason' in entrant) {
        entry.failure = entrant.reason;
        continue;
      }
      try {
        entry.contestant = await entrant.open();
        await spec.round(entry.contestant, 0, config.warmupMs); // warm-up, not kept
      } catch (error) {
        entry.failure = `${entrant.label} failed: ${describeError(error)}`;
      }
    }
    for (let round = 0; round < config.rounds; round++) {
      for (const entry of running) {
        if (!entry.contestant || entry.failure !== undefined) continue;
        try {
          entry.rounds.push(await spec.round(entry.contestant, window, 0));
        } catch (error) {
          entry.failure = `failed in round ${round + 1}: ${describeError(error)}`;
        }
      }
    }
  } finally {
    for (const entry of running) await entry.contestant?.close().catch(() => undefined);
  }
  for (const entry of running) {
    const ok = entry.failure === undefined && entry.rounds.length > 0;
    const perRound = entry.rounds.map((r) => formatRate(r.rate.perSecond)).join(' / ');
    context.progress(
      `  ${entry.side.padEnd(9)} ${ok ? `${formatRate(median(entry.rounds.map((r) => r.rate.perSecond)))} ${spec.unit} (median)` : `— (${entry.failure ?? 'no result'})`}${perRound ? `   rounds: ${perRound}` : ''}`,
    );
  }
  return running;
}

/** A row of the results: `pick` turns one round into the figure (a rate or a latency). */
export function toCase(
  name: string,
  unit: string,
  running: readonly Running<unknown>[],
  pick: (round: RoundResult) => number,
  lowerIsBetter = false,
): CaseResult | { skipped: string } {
  const figure = (side: Side): number | null => {
    const entry = running.find((r) => r.side === side);
    return entry && entry.failure === undefined && entry.rounds.length > 0
      ? median(entry.rounds.map(pick))
      : null;
  };
  const baseline = figure('baseline');
  const baselineEntry = running.find((r) => r.side === 'baseline');
  // Without the baseline there is no ratio to give: the case is listed as skipped, with why.
  if (baseline === null) return { skipped: `baseline: ${baselineEntry?.failure ?? 'no result'}` };
  const value = figure('causeway');
  const notes = running.flatMap((entry) =>
    entry.failure === undefined ? [] : [`${entry.side}: ${entry.failure}`],
  );
  if (lowerIsBetter)
    notes.push('latency: ×baseline = raw ÷ causeway, so below 1 means Causeway is slower');
  const digits = lowerIsBetter ? (x: number) => Math.round(x * 100) / 100 : r1;
  return {
    name,
    value: value === null ? null : digits(value),
    unit,
    baseline: { name: baselineEntry?.label ?? 'baseline', value: digits(baseline) },
    ratioToBaseline: r3(lowerIsBetter ? ratio(baseline, value) : ratio(value, baseline)),
    emmett: null,
    rounds: Object.fromEntries(
      running
        .filter((entry) => entry.rounds.length > 0)
        .map((entry) => [entry.side, entry.rounds.map((r) => digits(pick(r)))]),
    ),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

/** What a suite run collects: measured cases, and the ones that could not run with why. */
export interface Outcome {
  cases: CaseResult[];
  skipped: { name: string; reason: string }[];
}
