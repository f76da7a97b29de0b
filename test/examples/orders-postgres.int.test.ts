import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLE_SCHEMA, openBackend } from '../../examples/orders/backend.js';
import { runOrderExample } from '../../examples/orders/main.js';
import { orderViews } from '../../examples/orders/read-model.js';
import { expectOrderExampleOutput } from './orders-expectations.js';

const URL =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';
/** Its own schema, so this test never clobbers a developer's run of the example. */
const SCHEMA = `${EXAMPLE_SCHEMA}_test_${process.pid}`;

async function dropSchema(): Promise<void> {
  const client = new pg.Client({ connectionString: URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  } finally {
    await client.end();
  }
}

afterAll(dropSchema);

describe('order example on PostgreSQL', () => {
  it('runs end to end with events and read model in one schema, made anew on each open', async () => {
    for (let run = 0; run < 2; run++) {
      const backend = await openBackend(URL, { schema: SCHEMA });
      const lines: string[] = [];
      try {
        await runOrderExample(backend, (line) => lines.push(line));
        expectOrderExampleOutput(lines);
        const orders = await backend.projections.reader().table(orderViews).find({ orderBy: 'id' });
        expect(orders.map((o) => `${o.id}:${o.status}`)).toEqual([
          'o-1:confirmed',
          'o-2:pending',
          'o-3:cancelled',
        ]);
        expect(await backend.store.headPosition()).toBeGreaterThan(0);
      } finally {
        await backend.close();
      }
    }
  });
});
