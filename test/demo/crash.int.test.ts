import { afterAll, describe, expect, it } from 'vitest';
import { startDistributed } from '../../src/demo/distributed.js';
import { checkSummary } from '../../src/demo/summary.js';
import { dropSchema, PG_URL, runOrders, uniqueSchema } from './demo-harness.js';

const ORDERS = 40;
const schema = uniqueSchema('demo_crash');

afterAll(async () => {
  await dropSchema(schema);
});

describe('the distributed demo survives a payments crash', () => {
  it(
    'kill -9 of the payments process mid-run: every order completes or compensates, none is charged twice',
    { timeout: 300_000 },
    async () => {
      // Short step timeouts: a command lost with the killed process is re-sent soon.
      const system = await startDistributed({
        url: PG_URL,
        schema,
        broker: 'kafka',
        fulfilment: { stepTimeoutMs: 2_000, maxAttempts: 30 },
      });
      const payments = system.services.get('payments')!;
      const firstPid = payments.pid;
      let settledAtKill = -1;
      let restarted!: Promise<void>;
      let settled = 0;
      const unlisten = system.orders.views.onSettled(() => {
        if (++settled !== 1) return;
        settledAtKill = settled;
        restarted = (async () => {
          await payments.kill();
          await payments.start();
        })();
      });
      try {
        // Few requests at a time: orders keep arriving while payments is down.
        const summary = await runOrders(system, ORDERS, 2);
        await restarted;

        expect(settledAtKill).toBe(1);
        expect(payments.pid).not.toBe(firstPid);
        // Every number adds up: 28 completed, 12 compensated, nothing running, stock back.
        expect(checkSummary(summary)).toEqual([]);
        expect(summary.completed + summary.compensated).toBe(ORDERS);
        expect(summary.ledger.doubleCharges).toBe(0);
        // Charged: completed + undeliverable orders, once each; refunded: the undeliverable.
        expect(summary.ledger.charges).toBe(32);
        expect(summary.ledger.refunds).toBe(4);

        // The crash hit work in flight: some payment step needed more than one attempt.
        const retried = (await system.orders.runtime.list({ limit: 1_000 })).filter((saga) =>
          saga.history.some((a) => a.step === 'charge-payment' && a.attempt > 1),
        );
        expect(retried.length).toBeGreaterThan(0);
      } finally {
        unlisten();
        await system.close();
      }
    },
  );
});
