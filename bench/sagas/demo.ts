import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startDistributed } from '../../src/demo/distributed.js';
import { runDemo, serveOrders } from '../../src/demo/run.js';
import { startSingleProcess } from '../../src/demo/single-process.js';
import { checkSummary, type DemoSummary } from '../../src/demo/summary.js';
import type { DemoSystem } from '../../src/demo/system.js';
import { ratio, scaled, type CaseResult, type SuiteContext } from '../harness.js';

/**
 * The distributed saga case: `causeway demo --distributed`'s flow (orders with the saga
 * runtime, inventory, payments and shipping as four processes over PostgreSQL + Kafka), N
 * orders placed through its HTTP API, figures read from the demo's own summary object. The
 * reference is the same demo in its embedded mode (one process, one SQLite file, the SQLite
 * transport) with the same N orders in the same run: a raw-driver equivalent of a saga that
 * spans four services and a broker does not exist — writing one is writing the saga runtime,
 * the outbox and the consumer again.
 */

const ORDERS = 100;
const PG_URL =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';

export interface DemoCases {
  cases: CaseResult[];
  settings: Record<string, string>;
  skipped: { name: string; reason: string }[];
}

/** Sagas that reached an end (completed, or compensated: the demo's `failed`) per second. */
function finishedPerSecond(summary: DemoSummary): number {
  return ((summary.sagas.completed + summary.sagas.failed) * 1000) / summary.elapsedMs;
}

/** Runs the demo's client against `system` on an ephemeral port; refuses a run that does not add up. */
async function measure(system: DemoSystem, orders: number): Promise<DemoSummary> {
  const app = serveOrders(system);
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const summary = await runDemo(system, url, {
      orders,
      timeoutMs: 300_000,
      progress: { isTTY: false, write: () => undefined },
    });
    const problems = checkSummary(summary);
    if (problems.length > 0)
      throw new Error(`${system.description}: the run does not add up: ${problems.join('; ')}`);
    return summary;
  } finally {
    await app.close();
    await system.close();
  }
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

export async function demoCases(context: SuiteContext): Promise<DemoCases> {
  const orders = scaled(ORDERS, context.config, 10);
  const rateName = `PostgreSQL + Kafka · demo saga, 4 processes · finished per second (${orders} orders)`;
  const p99Name = `PostgreSQL + Kafka · demo saga, 4 processes · p99 order → confirmed`;
  const baselineName = `the same demo embedded: 1 process, SQLite file + SQLite transport, ${orders} orders`;
  const settings = {
    distributed: `causeway demo --distributed --transport kafka, in process (startDistributed + runDemo): the orders service with the saga runtime here, inventory, payments and shipping as child processes; ${orders} orders through the HTTP API, 16 in flight, each with its own fulfilment saga (reserve → charge → ship, compensated for the orders the catalogue makes fail); one run per side, the embedded one first`,
    distributedReference:
      'the embedded demo (startSingleProcess) on a new SQLite file, same orders; not a raw-driver baseline: a saga across four services has no raw-driver equivalent',
    distributedFigures:
      "read from the demo's summary: finished = sagas completed + compensated over the time from the first order placed to the last one settled; p99 of order created → confirmed from the read model",
  };
  const dir = mkdtempSync(join(tmpdir(), 'causeway-bench-demo-'));
  const schema = `bench_demo_${Math.random().toString(36).slice(2, 10)}`;
  try {
    context.progress(`  demo embedded (SQLite): ${orders} orders`);
    const embedded = await measure(await startSingleProcess(join(dir, 'demo.db')), orders);
    context.progress(`  demo distributed (PostgreSQL + Kafka, 4 processes): ${orders} orders`);
    let distributed: DemoSummary;
    try {
      distributed = await measure(
        await startDistributed({ url: PG_URL, schema, broker: 'kafka' }),
        orders,
      );
    } catch (error) {
      const reason = `the distributed demo did not run: ${error instanceof Error ? error.message : String(error)}`;
      return {
        cases: [],
        settings,
        skipped: [rateName, p99Name].map((name) => ({ name, reason })),
      };
    }
    const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
    const note = (summary: DemoSummary) =>
      `${summary.description}: ${summary.sagas.completed} completed + ${summary.sagas.failed} compensated in ${(summary.elapsedMs / 1000).toFixed(1)} s, p50 ${Math.round(summary.p50Ms)} ms`;
    return {
      settings,
      skipped: [],
      cases: [
        {
          name: rateName,
          value: r3(finishedPerSecond(distributed)),
          unit: 'sagas/s',
          baseline: { name: baselineName, value: r3(finishedPerSecond(embedded))! },
          ratioToBaseline: r3(ratio(finishedPerSecond(distributed), finishedPerSecond(embedded))),
          emmett: null,
          notes: [
            'baseline = the embedded demo (one process, SQLite), not a raw driver',
            note(distributed),
            note(embedded),
          ],
        },
        {
          name: p99Name,
          value: Math.round(distributed.p99Ms),
          unit: 'ms',
          baseline: { name: baselineName, value: Math.round(embedded.p99Ms) },
          ratioToBaseline: r3(ratio(distributed.p99Ms, embedded.p99Ms)),
          emmett: null,
          notes: ['for latency, a ratio above 1 means the distributed demo is slower'],
        },
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema).catch(() => undefined);
  }
}
