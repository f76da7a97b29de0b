import pg from 'pg';
import { runDemo, serveOrders } from '../../src/demo/run.js';
import type { DemoSummary } from '../../src/demo/summary.js';
import type { DemoSystem } from '../../src/demo/system.js';

export const PG_URL =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';

/** A schema name no other run uses (tests share the database with other helpers' runs). */
export function uniqueSchema(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Serves the system's API on an ephemeral port, runs `orders` orders through it, closes the API. */
export async function runOrders(
  system: DemoSystem,
  orders: number,
  concurrency = 16,
): Promise<DemoSummary> {
  const app = serveOrders(system);
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    return await runDemo(system, url, {
      orders,
      concurrency,
      timeoutMs: 150_000,
      progress: { isTTY: false, write: () => undefined },
    });
  } finally {
    await app.close();
  }
}

/** The numbers two deployments of the demo must agree on (timings differ, outcomes may not). */
export function outcomes(summary: DemoSummary) {
  return {
    placed: summary.placed,
    completed: summary.completed,
    compensated: summary.compensated,
    compensatedBy: summary.compensatedBy,
    pending: summary.pending,
    sagas: summary.sagas,
    deadLetters: summary.deadLetters.map(({ type, reason }) => ({ type, reason })),
    ledger: { ...summary.ledger, unitsTaken: Object.entries(summary.ledger.unitsTaken).sort() },
  };
}
