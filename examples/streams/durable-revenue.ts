/**
 * Revenue per product per minute with state in a SQLite file: the window totals, the
 * source position and the read-model rows commit in one transaction, so a process that
 * stops (or is killed) anywhere resumes where the last commit left off and the table ends
 * as a clean run's would.
 */
// #region snippet
import type { MemoryStreamSource } from 'causeway';
import {
  DurableStateBackend,
  StreamRuntime,
  StreamTask,
  TopologyBuilder,
  Windows,
  type TableSinkSpec,
  type Windowed,
} from 'causeway';
import { openSqliteDatabase, SqliteStateRepository } from 'causeway/sqlite';

interface OrderPlaced {
  productId: string;
  amount: number;
}

const builder = new TopologyBuilder({ name: 'revenue', deadLetters: 'late-orders' });
builder
  .stream<OrderPlaced>('orders')
  .groupBy((order) => order.productId)
  .windowedBy(Windows.tumbling({ size: 60_000 }), { emit: 'update' })
  .aggregate(
    'revenue-per-minute',
    () => 0,
    (total, order) => total + order.amount,
  )
  .toStream()
  .to('revenue');
const topology = builder.build();

// The read model: one row per product and minute, upserted in the commit's transaction.
const revenueTable: TableSinkSpec<Windowed<string>, number> = {
  sink: 'revenue',
  table: 'revenue_per_minute',
  key: ['product', 'minute'],
  row: ({ key, value }) => ({ product: key.key, minute: key.window.start, total: value }),
};

export async function runDurableRevenue(
  file: string,
  orders: MemoryStreamSource<null, OrderPlaced>,
): Promise<{ product: string; minute: number; total: number }[]> {
  const db = openSqliteDatabase(file);
  db.exec(`CREATE TABLE IF NOT EXISTS revenue_per_minute (
    product TEXT NOT NULL, minute INTEGER NOT NULL, total REAL NOT NULL,
    PRIMARY KEY (product, minute))`);
  const repository = new SqliteStateRepository(db, { tables: [revenueTable] });
  // Restores the windows and the position of the last commit (nothing on the first run).
  const backend = await DurableStateBackend.open({ repository, scope: 'revenue' });
  const runtime = new StreamRuntime(topology, { backend: backend! });
  await new StreamTask({ runtime, sources: [orders], commitEvery: 500 }).runToEnd();
  await backend!.release();
  const rows = db.prepare('SELECT * FROM revenue_per_minute ORDER BY product, minute').all();
  db.close();
  return rows as { product: string; minute: number; total: number }[];
}
// #endregion
