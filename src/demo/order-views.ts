/**
 * The order projection, fed by the transport: every order event the outbox published lands
 * here as a message. Rows are written only by a newer stream version than they hold, so a
 * redelivered message changes nothing and the consumer needs no inbox; per-key ordering
 * (the partition key is the order's stream) brings each order's events in order.
 */
import type { Message } from '../messaging/message.js';
import type { OrderCreatedData } from './order.js';
import type { DemoSql } from './sql.js';

/** Where the event store's outbox publishes order events. */
export const ORDER_EVENTS = 'demo-order-events';

export type ViewStatus = 'pending' | 'confirmed' | 'cancelled';

export interface OrderView {
  id: string;
  customerId: string;
  status: ViewStatus;
  totalCents: number;
  /** Why it was cancelled. */
  reason: string | null;
  trackingNumber: string | null;
  correlationId: string | null;
  /** The stream version of the last event applied. */
  version: number;
  createdAt: string;
  settledAt: string | null;
}

interface Row {
  id: string;
  customer_id: string;
  status: ViewStatus;
  total_cents: number | string;
  reason: string | null;
  tracking_number: string | null;
  correlation_id: string | null;
  version: number | string;
  created_at: number | string;
  settled_at: number | string | null;
}

const DDL = `CREATE TABLE IF NOT EXISTS demo_order_views (
  id TEXT PRIMARY KEY,
  customer_id TEXT NOT NULL,
  status TEXT NOT NULL,
  total_cents BIGINT NOT NULL,
  reason TEXT,
  tracking_number TEXT,
  correlation_id TEXT,
  version INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  settled_at BIGINT
)`;

/** Told when an order reaches its final status (possibly more than once per order). */
export type SettledListener = (orderId: string, status: 'confirmed' | 'cancelled') => void;

export class OrderViews {
  readonly #listeners = new Set<SettledListener>();

  constructor(private readonly sql: DemoSql) {}

  async prepare(): Promise<void> {
    await this.sql.run(DDL);
    await this.sql.run(
      'CREATE INDEX IF NOT EXISTS demo_order_views_status ON demo_order_views (status, created_at)',
    );
  }

  onSettled(listener: SettledListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The consumer's handler: one order event in, at most one row changed. */
  async apply(message: Message): Promise<void> {
    const version = Number(message.extensions['streamversion']);
    const at = message.time.getTime();
    const data = message.data as Partial<OrderCreatedData> & {
      orderId: string;
      reason?: string;
      trackingNumber?: string;
    };
    if (message.type === 'OrderCreated') {
      await this.sql.run(
        `INSERT INTO demo_order_views
           (id, customer_id, status, total_cents, correlation_id, version, created_at)
         VALUES (?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        [
          data.orderId,
          data.customerId,
          data.totalCents,
          message.correlationid ?? null,
          version,
          at,
        ],
      );
      return;
    }
    const status = message.type === 'OrderConfirmed' ? 'confirmed' : 'cancelled';
    await this.sql.run(
      `UPDATE demo_order_views
         SET status = ?, reason = ?, tracking_number = ?, version = ?, settled_at = ?
       WHERE id = ? AND version < ?`,
      [
        status,
        data.reason ?? null,
        data.trackingNumber ?? null,
        version,
        at,
        data.orderId,
        version,
      ],
    );
    // Told even when the row was already up to date: a listener counts distinct orders.
    for (const listener of this.#listeners) listener(data.orderId, status);
  }

  async get(id: string): Promise<OrderView | undefined> {
    const [row] = await this.sql.all<Row>('SELECT * FROM demo_order_views WHERE id = ?', [id]);
    return row && toView(row);
  }

  async list(status: ViewStatus | undefined, limit: number): Promise<OrderView[]> {
    const rows =
      status === undefined
        ? await this.sql.all<Row>('SELECT * FROM demo_order_views ORDER BY created_at LIMIT ?', [
            limit,
          ])
        : await this.sql.all<Row>(
            'SELECT * FROM demo_order_views WHERE status = ? ORDER BY created_at LIMIT ?',
            [status, limit],
          );
    return rows.map(toView);
  }

  async countByStatus(): Promise<Record<ViewStatus, number>> {
    const rows = await this.sql.all<{ status: ViewStatus; n: number | string }>(
      'SELECT status, COUNT(*) AS n FROM demo_order_views GROUP BY status',
    );
    const counts: Record<ViewStatus, number> = { pending: 0, confirmed: 0, cancelled: 0 };
    for (const row of rows) counts[row.status] = Number(row.n);
    return counts;
  }

  /** Events applied so far: each row holds its stream's version, and streams apply in order. */
  async appliedEvents(): Promise<number> {
    const [row] = await this.sql.all<{ n: number | string | null }>(
      'SELECT SUM(version) AS n FROM demo_order_views',
    );
    return Number(row?.n ?? 0);
  }

  /** Milliseconds from OrderCreated to OrderConfirmed, per confirmed order, ascending. */
  async confirmationLatencies(): Promise<number[]> {
    const rows = await this.sql.all<{ ms: number | string }>(
      `SELECT settled_at - created_at AS ms FROM demo_order_views
       WHERE status = 'confirmed' ORDER BY ms`,
    );
    return rows.map((r) => Number(r.ms));
  }
}

function toView(row: Row): OrderView {
  return {
    id: row.id,
    customerId: row.customer_id,
    status: row.status,
    totalCents: Number(row.total_cents),
    reason: row.reason,
    trackingNumber: row.tracking_number,
    correlationId: row.correlation_id,
    version: Number(row.version),
    createdAt: new Date(Number(row.created_at)).toISOString(),
    settledAt: row.settled_at === null ? null : new Date(Number(row.settled_at)).toISOString(),
  };
}
