/**
 * The demo's verdict: what happened to every order, how fast, and whether it all adds up.
 * `checkSummary` is what makes `causeway demo` exit non-zero: a stuck order, a saga still
 * running, a double charge or stock that did not come back is a failed demo, not a footnote.
 */
import type { SagaStatus } from '../sagas/saga-store.js';
import { expectedOutcome, type ExpectedOutcome } from './catalogue.js';
import { expectedLedger, type LedgerAudit } from './audit.js';

export interface DeadLetterLine {
  destination: string;
  type: string;
  reason: string;
  error: string;
}

export interface DemoSummary {
  description: string;
  placed: number;
  completed: number;
  compensated: number;
  /** Cancelled orders by the first words of their reason (`out of stock`, `payment declined`…). */
  compensatedBy: Record<string, number>;
  /** Orders the view still shows as pending: must be 0. */
  pending: number;
  deadLetters: DeadLetterLine[];
  sagas: Record<SagaStatus, number>;
  p50Ms: number;
  p99Ms: number;
  elapsedMs: number;
  ledger: LedgerAudit;
  /** Distributed mode: each service process's own `/metrics` URL, by service. */
  serviceMetrics?: Record<string, string>;
}

/** The value below which `q` of the sorted values lie (nearest rank). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

const CATEGORY: Record<Exclude<ExpectedOutcome, 'completed'>, string> = {
  out_of_stock: 'out of stock',
  payment_declined: 'payment declined',
  undeliverable: 'undeliverable',
};

/** Everything that does not add up; empty when the run is sound. */
export function checkSummary(summary: DemoSummary): string[] {
  const n = summary.placed;
  const expected = { completed: 0, compensated: 0, by: {} as Record<string, number> };
  for (let i = 0; i < n; i++) {
    const outcome = expectedOutcome(i);
    if (outcome === 'completed') expected.completed++;
    else {
      expected.compensated++;
      expected.by[CATEGORY[outcome]] = (expected.by[CATEGORY[outcome]] ?? 0) + 1;
    }
  }
  const problems: string[] = [];
  const expect = (what: string, actual: unknown, wanted: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(wanted))
      problems.push(`${what}: expected ${JSON.stringify(wanted)}, got ${JSON.stringify(actual)}`);
  };
  expect('completed orders', summary.completed, expected.completed);
  expect('compensated orders', summary.compensated, expected.compensated);
  expect('compensations by reason', sorted(summary.compensatedBy), sorted(expected.by));
  expect('orders still pending', summary.pending, 0);
  expect('sagas completed', summary.sagas.completed, expected.completed);
  expect('sagas compensated (failed)', summary.sagas.failed, expected.compensated);
  const unfinished =
    summary.sagas.running + summary.sagas.compensating + summary.sagas.compensation_failed;
  expect('sagas unfinished', unfinished, 0);
  expect('dead letters', summary.deadLetters.length, 1);
  const ledger = (audit: LedgerAudit) => ({ ...audit, unitsTaken: sorted(audit.unitsTaken) });
  expect('ledgers', ledger(summary.ledger), ledger(expectedLedger(n)));
  return problems;
}

function sorted(record: Record<string, number>): [string, number][] {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

/** The table `causeway demo` prints. */
export function formatSummary(summary: DemoSummary): string[] {
  const seconds = summary.elapsedMs / 1000;
  const rate = seconds > 0 ? summary.placed / seconds : 0;
  const by = sorted(summary.compensatedBy)
    .map(([reason, count]) => `${count} ${reason}`)
    .join(', ');
  const letter = summary.deadLetters[0];
  const rows: [string, string, string][] = [
    ['orders placed', String(summary.placed), 'POST /orders → 202, through the HTTP API'],
    ['completed', String(summary.completed), 'reserved → charged → shipped → confirmed'],
    ['compensated', String(summary.compensated), by === '' ? '-' : by],
    [
      'dead-lettered',
      String(summary.deadLetters.length),
      letter ? `${letter.type} on ${letter.destination}: ${letter.reason} (${letter.error})` : '-',
    ],
    ['p50 latency', `${Math.round(summary.p50Ms)} ms`, 'order created → confirmed'],
    ['p99 latency', `${Math.round(summary.p99Ms)} ms`, ''],
    [
      'throughput',
      `${rate.toFixed(1)} orders/s`,
      `${summary.placed} orders settled in ${seconds.toFixed(1)} s`,
    ],
    [
      'payments ledger',
      `${summary.ledger.charges}/${summary.ledger.refunds}`,
      `charges/refunds, ${summary.ledger.doubleCharges} orders charged twice`,
    ],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const valueWidth = Math.max(...rows.map(([, value]) => value.length));
  const services = Object.entries(summary.serviceMetrics ?? {});
  return [
    `Causeway demo · ${summary.description}`,
    ...rows.map(([label, value, note]) =>
      `  ${label.padEnd(width)}  ${value.padStart(valueWidth)}  ${note}`.trimEnd(),
    ),
    ...(services.length > 0
      ? [`  service metrics: ${services.map(([name, url]) => `${name} ${url}`).join(' · ')}`]
      : []),
  ];
}
