import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { MemoryStreamSource } from 'causeway';
import { runDurableRevenue } from '../../examples/streams/durable-revenue.js';
import { expectReadmeSnippet } from '../examples/readme-snippets.js';

const file = join(tmpdir(), `causeway-durable-revenue-${randomBytes(6).toString('hex')}.db`);
afterEach(() => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
});

it('the durable revenue example resumes after a restart and ends with the clean totals', async () => {
  const orders = new MemoryStreamSource<null, { productId: string; amount: number }>('orders');
  for (let i = 0; i < 1_500; i++)
    orders.push(null, { productId: `p${i % 3}`, amount: 1 }, Date.UTC(2026, 0, 1) + i * 100);
  const first = await runDurableRevenue(file, orders);
  expect(first.reduce((sum, row) => sum + row.total, 0)).toBe(1_500);

  // A restart with more input: only the new orders are processed, onto the restored windows.
  for (let i = 1_500; i < 2_000; i++)
    orders.push(null, { productId: `p${i % 3}`, amount: 1 }, Date.UTC(2026, 0, 1) + i * 100);
  const rows = await runDurableRevenue(file, orders);
  expect(rows.reduce((sum, row) => sum + row.total, 0)).toBe(2_000);
  // 200 s of orders: four minutes, three products.
  expect(rows).toHaveLength(12);
  expect(rows[0]).toEqual({ product: 'p0', minute: Date.UTC(2026, 0, 1), total: 200 });
});

it('the README durable-state snippet is the snippet region of examples/streams/durable-revenue.ts', () => {
  expectReadmeSnippet('examples/streams/durable-revenue.ts');
});
