import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../examples/orders/backend.js';
import { runOrderExample } from '../../examples/orders/main.js';
import { orderViews } from '../../examples/orders/read-model.js';
import { ROOT, runCli } from '../cli/run-cli.js';
import { expectOrderExampleOutput } from './orders-expectations.js';

const dir = mkdtempSync(join(tmpdir(), 'causeway-orders-'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function run(target: string): Promise<string[]> {
  const backend = await openBackend(target);
  const lines: string[] = [];
  try {
    await runOrderExample(backend, (line) => lines.push(line));
  } finally {
    await backend.close();
  }
  return lines;
}

describe('order example', () => {
  it('runs end to end in memory: commands, domain refusals, validation, enriched read model, queries, metadata', async () => {
    expectOrderExampleOutput(await run('memory'));
  });

  it('runs end to end on a SQLite file, and refuses a file that already holds events', async () => {
    const file = join(dir, 'orders.db');
    expectOrderExampleOutput(await run(file));
    await expect(openBackend(file)).rejects.toThrow(/already holds events/);
  });

  it(
    'is rebuilt by the CLI from causeway.config.ts, to the same read model',
    { timeout: 30_000 },
    async () => {
      const file = join(dir, 'rebuilt.db');
      await run(file);
      const before = await readOrders(file);
      const { code, stdout, stderr } = await runCli([
        'projections',
        'rebuild',
        'order-read-model',
        '--config',
        'examples/orders/causeway.config.ts',
        '--db',
        file,
      ]);
      expect(stderr).toContain('order-read-model v1: 100% (8/8,');
      expect(code).toBe(0);
      expect(stdout).toMatch(/^rebuilt order-read-model v1 in place: 8 events in /);
      expect(await readOrders(file)).toEqual(before);
      expect(before.map((o) => `${o.id}:${o.status}`)).toEqual([
        'o-1:confirmed',
        'o-2:pending',
        'o-3:cancelled',
      ]);
    },
  );
});

it("the README's projection excerpts are verbatim parts of examples/orders/read-model.ts", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const source = readFileSync(join(ROOT, 'examples/orders/read-model.ts'), 'utf8');
  const start = readme.indexOf('<!-- excerpt: examples/orders/read-model.ts -->');
  const end = readme.indexOf('<!-- /excerpt -->', start);
  expect(start).toBeGreaterThan(0);
  const blocks = [...readme.slice(start, end).matchAll(/```ts\n([\s\S]*?)\n```/g)].map((m) => m[1]);
  expect(blocks.length).toBeGreaterThan(0);
  // On failure: copy the current code from read-model.ts into the README's excerpt blocks.
  for (const block of blocks) expect(source).toContain(block);
});

async function readOrders(file: string) {
  const { createSqliteProjectionStore } = await import('causeway/sqlite');
  const projections = createSqliteProjectionStore({ filename: file });
  try {
    return await projections.reader().table(orderViews).find({ orderBy: 'id' });
  } finally {
    await projections.close();
  }
}
