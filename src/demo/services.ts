/**
 * The three downstream services. Each owns its tables, listens on its own destination and
 * answers through the transport; none of them can see the orders service's database.
 */
import type { Transport } from '../messaging/create-transport.js';
import type { Consumer, ConsumerOptions } from '../messaging/consumer.js';
import { DECLINED_CARD, INITIAL_STOCK, UNDELIVERABLE_COUNTRY } from './catalogue.js';
import { ledgerDdl, ledgerTable, once, type LedgerName } from './ledger.js';
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

/** Whether a successful `kind` row (a reserve, a charge) exists for the order. */
async function effect(
  session: SqlSession,
  service: LedgerName,
  orderId: string,
  kind: string,
): Promise<boolean> {
  const rows = await session.all(
    `SELECT 1 FROM ${ledgerTable(service)} WHERE order_id = ? AND kind = ? AND ok = 1`,
    [orderId, kind],
  );
  return rows.length > 0;
}

/**
 * Whether the order has an undo row of `kind` other than `except`: any, when checking that
 * a late reserve or charge must be refused; only an effective one (its amount set), when
 * checking that an undo already happened. Commands of one order reach a service in order on
 * its partition-key lane, so a check and the write after it do not race another command of
 * the same order.
 */
async function undone(
  session: SqlSession,
  service: LedgerName,
  orderId: string,
  kind: 'release' | 'refund' | 'cancel',
  except?: string,
): Promise<boolean> {
  const rows = await session.all(
    except === undefined
      ? `SELECT 1 FROM ${ledgerTable(service)} WHERE order_id = ? AND kind = ?`
      : `SELECT 1 FROM ${ledgerTable(service)}
         WHERE order_id = ? AND kind = ? AND amount_cents IS NOT NULL AND idempotency_key <> ?`,
    except === undefined ? [orderId, kind] : [orderId, kind, except],
  );
  return rows.length > 0;
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
          once(sql, service, key, { orderId: c.orderId, kind: 'reserve' }, async (s) =>
            (await undone(s, 'inventory', c.orderId, 'release'))
              ? { ok: false, reason: 'already released: the order was given up' }
              : reserve(s, c.items),
          ),
        // A compensation may run for a reserve that timed out and never happened (or has not
        // happened yet): release only what a successful reserve of this order took, once.
        ReleaseStock: (c: StockCommand, key: string) =>
          once(sql, service, key, { orderId: c.orderId, kind: 'release' }, async (s) => {
            if (!(await effect(s, 'inventory', c.orderId, 'reserve')))
              return { ok: true, reason: 'nothing was reserved' };
            if (await undone(s, 'inventory', c.orderId, 'release', key))
              return { ok: true, reason: 'already released' };
            await adjust(s, c.items, +1);
            // Marks the release as effective (the units it gave back), for `undone` and audits.
            await s.run(
              `UPDATE ${ledgerTable('inventory')} SET amount_cents = ? WHERE idempotency_key = ?`,
              [c.items.reduce((units, item) => units + item.quantity, 0), key],
            );
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
            async (s) =>
              // A charge queued while the saga gave up arrives after its refund: refuse it.
              (await undone(s, 'payments', c.orderId, 'refund'))
                ? { ok: false, reason: 'already refunded: the order was given up' }
                : c.card === DECLINED_CARD
                  ? { ok: false, reason: 'payment declined: insufficient funds' }
                  : { ok: true, result: { paymentId: `pay-${key.slice(0, 48)}` } },
          ),
        // Refunds only an actual charge of this order, once (a compensation may run for a
        // charge that timed out and never happened).
        RefundPayment: (c: { orderId: string }, key: string) =>
          once(sql, service, key, { orderId: c.orderId, kind: 'refund' }, async (s) => {
            const [charge] = await s.all<{ amount_cents: number | string }>(
              `SELECT amount_cents FROM ${ledgerTable('payments')}
               WHERE order_id = ? AND kind = 'charge' AND ok = 1`,
              [c.orderId],
            );
            if (!charge) return { ok: true, reason: 'nothing was charged' };
            if (await undone(s, 'payments', c.orderId, 'refund', key))
              return { ok: true, reason: 'already refunded' };
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
          once(sql, service, key, { orderId: c.orderId, kind: 'shipment' }, async (s) =>
            (await undone(s, 'shipping', c.orderId, 'cancel'))
              ? { ok: false, reason: 'already cancelled: the order was given up' }
              : c.country === UNDELIVERABLE_COUNTRY
                ? { ok: false, reason: `undeliverable: no carrier serves ${c.country}` }
                : {
                    ok: true,
                    result: { trackingNumber: `TRK-${c.orderId.slice(-12).toUpperCase()}` },
                  },
          ),
        // Cancels only a shipment that was created for the order, once.
        CancelShipment: (c: { orderId: string }, key: string) =>
          once(sql, service, key, { orderId: c.orderId, kind: 'cancel' }, async (s) => {
            if (!(await effect(s, 'shipping', c.orderId, 'shipment')))
              return { ok: true, reason: 'nothing was shipped' };
            if (await undone(s, 'shipping', c.orderId, 'cancel', key))
              return { ok: true, reason: 'already cancelled' };
            await s.run(
              `UPDATE ${ledgerTable('shipping')} SET amount_cents = 0 WHERE idempotency_key = ?`,
              [key],
            );
            return { ok: true };
          }),
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
