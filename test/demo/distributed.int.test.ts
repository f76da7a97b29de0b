import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteBrokerData, openBroker } from '../../src/demo/brokers.js';
import { DEMO_BROKER_TOPOLOGY, startDistributed } from '../../src/demo/distributed.js';
import { DESTINATIONS } from '../../src/demo/services.js';
import { startSingleProcess } from '../../src/demo/single-process.js';
import { checkSummary, formatSummary } from '../../src/demo/summary.js';
import { dropSchema, outcomes, PG_URL, runOrders, uniqueSchema } from './demo-harness.js';

const ORDERS = 40;
const schemas = [uniqueSchema('demo_it'), uniqueSchema('demo_it_keep')] as const;
const dir = mkdtempSync(join(tmpdir(), 'causeway-demo-int-'));
const admin = new Admin({
  clientId: 'causeway-demo-test',
  bootstrapBrokers: (process.env['CAUSEWAY_KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(','),
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await Promise.all(schemas.map(dropSchema));
  await admin.close();
});

/** The run's topics and consumer groups still on the broker. */
async function topicsOf(prefix: string): Promise<string[]> {
  return (await admin.listTopics()).filter((topic) => topic.startsWith(`${prefix}.`));
}

/**
 * `deleteTopics` returns once the controller took the deletion; the broker answering
 * `listTopics` may list them for a moment longer, so the check reads until it agrees.
 */
async function settledValue(read: () => Promise<string[]>, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value.length === 0 || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function groupsOf(prefix: string): Promise<string[]> {
  return [...(await admin.listGroups()).keys()].filter((group) => group.startsWith(`${prefix}.`));
}

/** `messages_handled_total` of the scrape, summed over its destinations and groups. */
function handled(text: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith('causeway_messages_handled_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

describe('the distributed demo: four processes on PostgreSQL + Kafka', () => {
  it(
    'settles every order exactly as the single-process run does, each service serves its own /metrics, and the run deletes its topics',
    { timeout: 300_000 },
    async () => {
      const single = await startSingleProcess(join(dir, 'single.db'));
      const local = await runOrders(single, ORDERS).finally(() => single.close());

      const notes: string[] = [];
      const system = await startDistributed({
        url: PG_URL,
        schema: schemas[0],
        broker: 'kafka',
        note: (line) => notes.push(line),
      });
      const pids = [...system.services.values()].map((s) => s.pid);
      const scrapes: Record<string, string> = {};
      const distributed = await runOrders(system, ORDERS)
        .then(async (summary) => {
          for (const [name, url] of Object.entries(summary.serviceMetrics ?? {}))
            scrapes[name] = await (await fetch(url)).text();
          return summary;
        })
        .finally(() => system.close());

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

      // Each service counted the commands it handled on its own destination; the inventory's
      // scrape also shows the poison command it dead-lettered.
      expect(Object.keys(scrapes).sort()).toEqual(['inventory', 'payments', 'shipping']);
      for (const [name, text] of Object.entries(scrapes)) {
        expect(handled(text), name).toBeGreaterThan(0);
        expect(text).toContain(`destination="${DESTINATIONS[name as keyof typeof DESTINATIONS]}"`);
      }
      expect(formatSummary(distributed).at(-1)).toMatch(
        /^ {2}service metrics: inventory http:\/\/127\.0\.0\.1:\d+\/metrics · payments http:\S+ · shipping http:\S+$/,
      );
      expect(scrapes['inventory']).toMatch(
        /^causeway_messages_dead_lettered_total\{[^}]*destination="demo-inventory"[^}]*\} 1$/m,
      );

      // Nothing of the run is left on the broker, and nothing went wrong deleting it.
      expect(await settledValue(() => topicsOf(system.brokerPrefix))).toEqual([]);
      expect(await settledValue(() => groupsOf(system.brokerPrefix))).toEqual([]);
      expect(notes).toEqual([]);
    },
  );

  it(
    'with keepBrokerData the run leaves its topics and says how to read its dead letters',
    { timeout: 300_000 },
    async () => {
      const notes: string[] = [];
      const system = await startDistributed({
        url: PG_URL,
        schema: schemas[1],
        broker: 'kafka',
        keepBrokerData: true,
        note: (line) => notes.push(line),
      });
      const prefix = system.brokerPrefix;
      try {
        await runOrders(system, 5).finally(() => system.close());
        expect(await groupsOf(prefix)).not.toEqual([]);
        const topics = await topicsOf(prefix);
        expect(topics).toEqual(
          expect.arrayContaining([`${prefix}.demo-order-events`, `${prefix}.demo-inventory.dlq`]),
        );
        expect(notes.join('\n')).toContain(
          `causeway dlq list --kafka ${process.env['CAUSEWAY_KAFKA_BROKERS'] === undefined ? '127.0.0.1:9092' : '"$CAUSEWAY_KAFKA_BROKERS"'} --kafka-prefix ${prefix}`,
        );
      } finally {
        const driver = await openBroker('kafka', prefix);
        await deleteBrokerData('kafka', driver, DEMO_BROKER_TOPOLOGY).finally(() => driver.close());
      }
      expect(await settledValue(() => topicsOf(prefix))).toEqual([]);
    },
  );
});
