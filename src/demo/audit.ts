/**
 * After the run: what the services' ledgers say happened, checked against what the orders
 * should have done. A charge per order at most, a refund for every charge of a cancelled
 * order, and stock back where it should be — the proof that compensation and idempotency
 * worked, not just that the sagas say they did.
 */
import { INITIAL_STOCK, demoOrder, expectedOutcome } from './catalogue.js';
import { ledgerTable } from './ledger.js';
import type { DemoSql } from './sql.js';

export interface LedgerAudit {
  charges: number;
  refunds: number;
  /** Orders charged more than once: must be 0. */
  doubleCharges: number;
  shipments: number;
  /** Units reserved and not released, per product. */
  unitsTaken: Record<string, number>;
}

export async function auditLedgers(sql: DemoSql): Promise<LedgerAudit> {
  const payments = ledgerTable('payments');
  const count = async (text: string) =>
    Number((await sql.all<{ n: number | string }>(text))[0]?.n ?? 0);
  const charges = await count(
    `SELECT COUNT(*) AS n FROM ${payments} WHERE kind = 'charge' AND ok = 1`,
  );
  const refunds =
    await count(`SELECT COUNT(*) AS n FROM ${payments} WHERE kind = 'refund' AND ok = 1
    AND amount_cents IS NOT NULL`);
  const doubleCharges = await count(`SELECT COUNT(*) AS n FROM (SELECT order_id FROM ${payments}
    WHERE kind = 'charge' AND ok = 1 GROUP BY order_id HAVING COUNT(*) > 1) AS twice`);
  const shipments = await count(
    `SELECT COUNT(*) AS n FROM ${ledgerTable('shipping')} WHERE kind = 'shipment' AND ok = 1`,
  );
  const stock = await sql.all<{ sku: string; available: number | string }>(
    'SELECT sku, available FROM demo_stock',
  );
  const unitsTaken: Record<string, number> = {};
  for (const row of stock)
    unitsTaken[row.sku] = (INITIAL_STOCK[row.sku] ?? 0) - Number(row.available);
  return { charges, refunds, doubleCharges, shipments, unitsTaken };
}

/** What the ledgers must show after orders 0..n-1 (see `expectedOutcome`). */
export function expectedLedger(n: number): LedgerAudit {
  const expected: LedgerAudit = {
    charges: 0,
    refunds: 0,
    doubleCharges: 0,
    shipments: 0,
    unitsTaken: Object.fromEntries(Object.keys(INITIAL_STOCK).map((sku) => [sku, 0])),
  };
  for (let i = 0; i < n; i++) {
    const outcome = expectedOutcome(i);
    if (outcome === 'completed' || outcome === 'undeliverable') expected.charges++;
    if (outcome === 'undeliverable') expected.refunds++;
    if (outcome !== 'completed') continue;
    expected.shipments++;
    for (const item of demoOrder(i).items)
      expected.unitsTaken[item.sku] = (expected.unitsTaken[item.sku] ?? 0) + item.quantity;
  }
  return expected;
}
