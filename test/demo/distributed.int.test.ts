import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDistributed } from '../../src/demo/distributed.js';
import { startSingleProcess } from '../../src/demo/single-process.js';
import { checkSummary } from '../../src/demo/summary.js';
import { dropSchema, outcomes, PG_URL, runOrders, uniqueSchema } from './demo-harness.js';

const ORDERS = 40;
const schema = uniqueSchema('demo_it');
const dir = mkdtempSync(join(tmpdir(), 'causeway-demo-int-'));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchema(schema);
});

describe('the distributed demo: four processes on PostgreSQL + Kafka', () => {
  it(
    'settles every order exactly as the single-process run does',
    { timeout: 300_000 },
    async () => {
      const single = await startSingleProcess(join(dir, 'single.db'));
      const local = await runOrders(single, ORDERS).finally(() => single.close());

      const system = await startDistributed({ url: PG_URL, schema, broker: 'kafka' });
      const pids = [...system.services.values()].map((s) => s.pid);
      const distributed = await runOrders(system, ORDERS).finally(() => system.close());

      // Three service processes besides this one, each its own OS process.
      expect(new Set([...pids, process.pid]).size).toBe(4);
      expect(distributed.description).toContain('4 processes · PostgreSQL');
      expect(checkSummary(distributed)).toEqual([]);
      expect(outcomes(distributed)).toEqual(outcomes(local));
      expect(distributed.completed).toBe(28);
      expect(distributed.compensated).toBe(12);
      expect(distributed.deadLetters).toEqual([
        expect.objectContaining({ type: 'ReserveStock', reason: 'schema_violation' }),
      ]);
    },
  );
});
