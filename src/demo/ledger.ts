/**
 * Each service's ledger: one row per idempotency key, written in the same transaction as the
 * effect it records. A command seen before finds its row and gets the stored answer — after a
 * redelivery, a saga retry or a crash between commit and reply — so no effect happens twice.
 */
import type { CommandReply } from './rpc.js';
import type { DemoSql, SqlSession } from './sql.js';

export type LedgerName = 'inventory' | 'payments' | 'shipping';

export function ledgerTable(service: LedgerName): string {
  return `demo_${service}_ledger`;
}

export function ledgerDdl(service: LedgerName): string {
  return `CREATE TABLE IF NOT EXISTS ${ledgerTable(service)} (
    idempotency_key TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ok INTEGER NOT NULL,
    reason TEXT,
    result TEXT,
    amount_cents BIGINT,
    created_at BIGINT NOT NULL
  )`;
}

export interface LedgerEntry {
  orderId: string;
  kind: string;
  /** Set for money movements (payments). */
  amountCents?: number;
}

interface Row {
  ok: number;
  reason: string | null;
  result: string | null;
}

/**
 * Runs `effect` once per key. The row is claimed first (`ON CONFLICT DO NOTHING`), so on
 * PostgreSQL a concurrent duplicate waits for the first transaction and then reads its answer.
 */
export function once(
  sql: DemoSql,
  service: LedgerName,
  key: string,
  entry: LedgerEntry,
  effect: (session: SqlSession) => Promise<CommandReply>,
): Promise<CommandReply> {
  const table = ledgerTable(service);
  return sql.transaction(async (session) => {
    const claimed = await session.run(
      `INSERT INTO ${table} (idempotency_key, order_id, kind, ok, amount_cents, created_at)
       VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`,
      [key, entry.orderId, entry.kind, entry.amountCents ?? null, Date.now()],
    );
    if (claimed === 0) {
      const [row] = await session.all<Row>(
        `SELECT ok, reason, result FROM ${table} WHERE idempotency_key = ?`,
        [key],
      );
      return toReply(row!);
    }
    const reply = await effect(session);
    await session.run(
      `UPDATE ${table} SET ok = ?, reason = ?, result = ? WHERE idempotency_key = ?`,
      [
        reply.ok ? 1 : 0,
        reply.reason ?? null,
        reply.result ? JSON.stringify(reply.result) : null,
        key,
      ],
    );
    return reply;
  });
}

function toReply(row: Row): CommandReply {
  const reply: CommandReply = { ok: Number(row.ok) === 1 };
  if (row.reason !== null) reply.reason = row.reason;
  if (row.result !== null) reply.result = JSON.parse(row.result) as Record<string, string>;
  return reply;
}
