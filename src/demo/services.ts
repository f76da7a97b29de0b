/**
 * The three downstream services. Each owns its tables, listens on its own destination and
 * answers through the transport; none of them can see the orders service's database.
 */
import type { Transport } from '../messaging/create-transport.js';
import type { Consumer, ConsumerOptions } from '../messaging/consumer.js';
import { DECLINED_CARD, INITIAL_STOCK, UNDELIVERABLE_COUNTRY } from './catalogue.js';
import { ledgerDdl, ledgerTable, once } from './ledger.js';
import type { OrderLine } from './order.js';
import { serveCommands, type CommandReply } from './rpc.js';
import { commandRegistry } from './schemas.js';
import type { DemoSql, SqlSession } from './sql.js';

export const DESTINATIONS = {
  inventory: 'demo-inventory',
  payments: 'demo-payments',
  shipping: 'demo-shipping',
} as const;

export type ServiceName = keyof typeof DESTINATIONS;

interface StockCommand {
  orderId: string;
  items: OrderLine[];
}

async function reserve(session: SqlSession, items: readonly OrderLine[]): Promise<CommandReply> {
  const taken: OrderLine[] = [];
  for (const item of items) {
    const changed = await session.run(
      'UPDATE demo_stock SET available = available - ? WHERE sku = ? AND available >= ?',
      [item.quantity, item.sku, item.quantity],
    );
    if (changed === 0) {
      await adjust(session, taken, +1);
      return { ok: false, reason: `out of stock: ${item.sku}` };
    }
    taken.push(item);
  }
  return { ok: true };
}

async function adjust(session: SqlSession, items: readonly OrderLine[], sign: 1 | -1) {
  for (const item of items)
    await session.run('UPDATE demo_stock SET available = available + ? WHERE sku = ?', [
      sign * item.quantity,
      item.sku,
    ]);
}

/** Creates the service's tables (idempotent) and seeds the inventory's stock once. */
export async function prepareService(sql: DemoSql, service: ServiceName): Promise<void> {
  await sql.run(ledgerDdl(service));
  if (service !== 'inventory') return;
  await sql.run(
    'CREATE TABLE IF NOT EXISTS demo_stock (sku TEXT PRIMARY KEY, available BIGINT NOT NULL)',
  );
  for (const [sku, available] of Object.entries(INITIAL_STOCK))
    await sql.run(
      'INSERT INTO demo_stock (sku, available) VALUES (?, ?) ON CONFLICT (sku) DO NOTHING',
      [sku, available],
    );
}

function handlers(sql: DemoSql, service: ServiceName) {
  switch (service) {
    case 'inventory':
      return {
        ReserveStock: (c: StockCommand, key: string) =>
          once(sql, service, key, { orderId: c.orderId, kind: 'reserve' }, (s) =>
            reserve(s, c.items),
          ),
        ReleaseStock: (c: StockCommand, key: string) =>
          once(sql, service, key, { orderId: c.orderId, kind: 'release' }, async (s) => {
            // A saga also compensates a reservation whose outcome it never learned (timed
            // out): give back only what this order's reservation really took.
            const [reserved] = await s.all(
              `SELECT 1 AS taken FROM ${ledgerTable('inventory')}
               WHERE order_id = ? AND kind = 'reserve' AND ok = 1`,
              [c.orderId],
            );
            if (!reserved) return { ok: true, reason: 'nothing was reserved' };
            await adjust(s, c.items, +1);
            return { ok: true };
          }),
      };
    case 'payments':
      return {
        ChargePayment: (c: { orderId: string; card: string; amountCents: number }, key: string) =>
          once(
            sql,
            service,
            key,
            { orderId: c.orderId, kind: 'charge', amountCents: c.amountCents },
            async () =>
              c.card === DECLINED_CARD
                ? { ok: false, reason: 'payment declined: insufficient funds' }
                : { ok: true, result: { paymentId: `pay-${key.slice(0, 48)}` } },
          ),
        RefundPayment: (c: { orderId: string }, key: string) =>
          once(sql, service, key, { orderId: c.orderId, kind: 'refund' }, async (s) => {
            const [charge] = await s.all<{ amount_cents: number | string }>(
              `SELECT amount_cents FROM ${ledgerTable('payments')}
               WHERE order_id = ? AND kind = 'charge' AND ok = 1`,
              [c.orderId],
            );
            if (!charge) return { ok: true, reason: 'nothing was charged' };
            // The refund row carries the amount, so the ledger balances charges against refunds.
            await s.run(
              `UPDATE ${ledgerTable('payments')} SET amount_cents = ? WHERE idempotency_key = ?`,
              [Number(charge.amount_cents), key],
            );
            return { ok: true };
          }),
      };
    case 'shipping':
      return {
        CreateShipment: (c: { orderId: string; country: string }, key: string) =>
          once(sql, service, key, { orderId: c.orderId, kind: 'shipment' }, async () =>
            c.country === UNDELIVERABLE_COUNTRY
              ? { ok: false, reason: `undeliverable: no carrier serves ${c.country}` }
              : {
                  ok: true,
                  result: { trackingNumber: `TRK-${c.orderId.slice(-12).toUpperCase()}` },
                },
          ),
      };
  }
}

/** Starts one service: its tables, then its command consumer. */
export async function startService(
  service: ServiceName,
  sql: DemoSql,
  transport: Transport,
  consumer: ConsumerOptions = {},
): Promise<Consumer> {
  await prepareService(sql, service);
  return serveCommands(transport, DESTINATIONS[service], handlers(sql, service), {
    registry: commandRegistry,
    consumer,
  });
}
