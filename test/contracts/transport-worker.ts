/**
 * A consumer in its own process, for the transport contract's kill -9 case:
 * `CAUSEWAY_TRANSPORT_WORKER=<WorkerSpec as JSON> node --conditions=source --import tsx
 * test/contracts/transport-worker.ts`. It builds the broker's transport from the harness
 * module the spec names, consumes the destination as the group, records every handled message
 * in the ledger, and prints one JSON line when ready and one per handled message, so the test
 * can kill it mid-batch. It never exits by itself.
 */
import type { HarnessFactory } from './transport-harness.js';
import { openLedger, WORKER_ENV, type WorkerSpec } from './transport-ledger.js';

const raw = process.env[WORKER_ENV];
if (!raw) throw new Error(`${WORKER_ENV} must hold the worker spec as JSON`);
const spec = JSON.parse(raw) as WorkerSpec;

const { createHarness } = (await import(spec.module)) as { createHarness: HarnessFactory };
const { transport } = await createHarness(spec.options).create();
const ledger = await openLedger(spec.ledger);
const say = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

await transport.subscribe(
  spec.destination,
  spec.group,
  async (message, { attempt }) => {
    await new Promise((resolve) => setTimeout(resolve, spec.workMs));
    await ledger.record({ id: message.id, by: spec.name, attempt });
    say({ handled: message.id });
  },
  { concurrency: spec.concurrency, prefetch: spec.prefetch },
);
say({ ready: true });
