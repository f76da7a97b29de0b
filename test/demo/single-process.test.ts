import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedLedger } from '../../src/demo/audit.js';
import { placeInvalidOrder, runDemo, serveOrders } from '../../src/demo/run.js';
import { startSingleProcess } from '../../src/demo/single-process.js';
import { checkSummary, type DemoSummary } from '../../src/demo/summary.js';
import type { DemoSystem } from '../../src/demo/system.js';

const ORDERS = 40;
const dir = mkdtempSync(join(tmpdir(), 'causeway-demo-test-'));
let system: DemoSystem;
let app: ReturnType<typeof serveOrders>;
let url: string;
let summary: DemoSummary;

beforeAll(async () => {
  system = await startSingleProcess(join(dir, 'demo.db'));
  app = serveOrders(system);
  url = await app.listen({ host: '127.0.0.1', port: 0 });
  const progress: string[] = [];
  summary = await runDemo(system, url, {
    orders: ORDERS,
    progress: { isTTY: false, write: (text) => void progress.push(text) },
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the single-process demo (40 orders on one SQLite file)', () => {
  it('completes 7 in 10 orders and compensates the rest, by reason, with nothing left running', () => {
    expect(summary.completed).toBe(28);
    expect(summary.compensated).toBe(12);
    expect(summary.compensatedBy).toEqual({
      'out of stock': 4,
      'payment declined': 4,
      undeliverable: 4,
    });
    expect(summary.pending).toBe(0);
    expect(summary.sagas).toEqual({
      running: 0,
      compensating: 0,
      completed: 28,
      failed: 12,
      compensation_failed: 0,
    });
    expect(summary.p50Ms).toBeGreaterThan(0);
    expect(summary.p99Ms).toBeGreaterThanOrEqual(summary.p50Ms);
    expect(checkSummary(summary)).toEqual([]);
  });

  it("balances the services' ledgers: one charge per paid order, a refund per undeliverable one, stock back", () => {
    expect(summary.ledger).toEqual(expectedLedger(ORDERS));
    expect(summary.ledger.charges).toBe(32);
    expect(summary.ledger.refunds).toBe(4);
    expect(summary.ledger.doubleCharges).toBe(0);
    expect(summary.ledger.unitsTaken['sku-sold-out']).toBe(0);
  });

  it('dead-letters the one poison command with its reason and field path', async () => {
    const letters = await system.deadLetters.list();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      destination: 'demo-inventory',
      group: 'demo-inventory',
      failure: { reason: 'schema_violation', attempts: 1 },
    });
    expect(letters[0]!.failure.errorMessage).toContain('data.items[0].quantity');
    expect(summary.deadLetters).toEqual([
      expect.objectContaining({ type: 'ReserveStock', reason: 'schema_violation' }),
    ]);
  });

  it('answers a bad POST /orders with 400 naming each field by its path', async () => {
    expect(await placeInvalidOrder(url)).toEqual([
      { path: 'items[0].quantity', message: 'must be >= 1' },
    ]);
    const response = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: '', items: [{ sku: 'sku-mug', quantity: '2' }] }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { issues: { path: string }[] };
    expect(body.issues.map((i) => i.path).sort()).toEqual(
      ['card', 'customerId', 'items[0].quantity', 'items[0].unitPriceCents', 'shipTo'].sort(),
    );
  });

  it('serves the projection: one order by id, orders by status, 404 for an unknown id', async () => {
    const cancelled = (await (await fetch(`${url}/orders?status=cancelled&limit=100`)).json()) as {
      orders: { id: string; status: string; reason: string }[];
    };
    expect(cancelled.orders).toHaveLength(12);
    const declined = cancelled.orders.find((o) => o.reason.startsWith('payment declined'))!;
    const one = await fetch(`${url}/orders/${declined.id}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ id: declined.id, status: 'cancelled', version: 2 });
    expect((await fetch(`${url}/orders/no-such-order`)).status).toBe(404);
    expect((await fetch(`${url}/orders?status=lost`)).status).toBe(400);
  });

  it('serves Prometheus metrics (causeway/prometheus): dead letters, outbox backlog, event store head, order view lag, sagas by status', async () => {
    const response = await fetch(`${url}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toMatch(/^causeway_dead_letters\{destination="demo-inventory"\} 1$/m);
    expect(text).toMatch(/^causeway_dead_letters\{destination="demo-payments"\} 0$/m);
    // Drained: no destination has a record waiting (a destination seen once would read 0).
    expect(text).toMatch(/^# TYPE causeway_outbox_pending gauge$/m);
    expect(text).not.toMatch(/^causeway_outbox_pending\{[^}]*\} [1-9]/m);
    // 40 OrderCreated + 40 settling events stored, all of them in the order view.
    expect(text).toMatch(/^causeway_event_store_head_position 80$/m);
    expect(text).toMatch(/^demo_order_view_lag_events 0$/m);
    expect(text).toMatch(/^causeway_sagas\{saga="order-fulfilment",status="completed"\} 28$/m);
    expect(text).toMatch(/^causeway_sagas\{saga="order-fulfilment",status="failed"\} 12$/m);
    // 28 + 12 orders settled: each OrderCreated and each settling event reached the view.
    expect(text).toMatch(
      /^causeway_messages_handled_total\{destination="demo-order-events",group="order-view"\} 80$/m,
    );
    expect(text).toMatch(
      /^causeway_messages_handled_total\{destination="demo-payments",group="demo-payments"\} \d+$/m,
    );
  });
});
