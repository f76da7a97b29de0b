/**
 * Crash safety, part of the transport contract: a consumer process killed with SIGKILL
 * mid-batch, and the broker restarted while messages flow. Delivery stays at-least-once:
 * nothing is lost, and a message is handled twice only if it was in flight when the
 * consumer died. A broker that cannot run a case skips it with the limitation in the name.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { isStoreUnavailableError, type Consumer } from 'causeway';
import { spawnFixture } from '../adapters/fixtures/spawn-runner.js';
import type { TransportHarness, TransportUnderTest } from './transport-harness.js';
import {
  openLedger,
  readLedger,
  WORKER_ENV,
  type LedgerEntry,
  type WorkerSpec,
} from './transport-ledger.js';

const CRASH_TIMEOUT_MS = 120_000;
const work = (ms: number) => new Promise((done) => setTimeout(done, ms));

export function transportCrashCases(
  harness: TransportHarness,
  create: () => Promise<TransportUnderTest>,
): void {
  const killTitle =
    'a consumer process killed with SIGKILL mid-batch loses nothing; only what it held in flight is handled again';
  const { worker } = harness;
  if (worker) {
    it(killTitle, () => killMidBatch(worker, create), CRASH_TIMEOUT_MS);
  } else {
    it.skip(
      `${killTitle} (skipped: ${harness.limitations?.processKill ?? noCapability('worker')})`,
    );
  }

  const restartTitle = `survives a broker restart${harness.restartKind ? ` (${harness.restartKind})` : ''} while publishing and consuming: every message handled, the consumer resumes by itself`;
  const restartBroker = harness.restartBroker?.bind(harness);
  if (restartBroker) {
    it(restartTitle, () => restartMidStream(restartBroker, create), CRASH_TIMEOUT_MS);
  } else {
    it.skip(
      `${restartTitle} (skipped: ${harness.limitations?.brokerRestart ?? noCapability('restartBroker')})`,
    );
  }
}

const noCapability = (field: string) => `the harness does not offer \`${field}\` yet`;

async function killMidBatch(
  worker: NonNullable<TransportHarness['worker']>,
  create: () => Promise<TransportUnderTest>,
): Promise<void> {
  const { transport, destination } = await create();
  const dest = destination();
  const dir = await mkdtemp(join(tmpdir(), 'causeway-crash-'));
  const ledgerPath = join(dir, 'ledger.jsonl');
  const prefetch = 8;
  const child = spawnWorker({
    module: worker.module,
    options: worker.options,
    destination: dest,
    group: 'crash',
    ledger: ledgerPath,
    name: 'killed',
    concurrency: 4,
    prefetch,
    workMs: 20,
  });
  let survivor: Consumer | undefined;
  try {
    // The group exists once the worker subscribed; only then may messages be published.
    await child.ready();
    const ids = await transport.publish(
      dest,
      Array.from({ length: 60 }, (_, n) => ({ type: 'Job', data: { n } })),
    );
    await child.handled(20);
    child.kill('SIGKILL');
    await child.exited;
    const beforeKill = await readLedger(ledgerPath);
    expect(beforeKill.length).toBeLessThan(ids.length);

    const ledger = await openLedger(ledgerPath);
    const seen = new Set(beforeKill.map((e) => e.id));
    let complete!: () => void;
    const allSeen = new Promise<void>((done) => (complete = done));
    survivor = await transport.subscribe(dest, 'crash', async (m, { attempt }) => {
      await ledger.record({ id: m.id, by: 'survivor', attempt });
      seen.add(m.id);
      if (ids.every((id) => seen.has(id))) complete();
    });
    await allSeen;
    await survivor.stop();
    await ledger.close();

    const entries = await readLedger(ledgerPath);
    const handlers = new Map<string, LedgerEntry['by'][]>();
    for (const entry of entries)
      handlers.set(entry.id, [...(handlers.get(entry.id) ?? []), entry.by]);
    // None lost, nothing foreign.
    expect([...handlers.keys()].sort()).toEqual([...ids].sort());
    // A second handling is a message the killed process had handled but not yet acked: it
    // was among its unsettled deliveries, which the prefetch bounds.
    const twice = [...handlers].filter(([, by]) => by.length > 1);
    for (const [, by] of twice) expect(by).toEqual(['killed', 'survivor']);
    expect(twice.length).toBeLessThanOrEqual(prefetch);
    // The survivor only handled what the killed process had not finished, plus those.
    expect(entries.filter((e) => e.by === 'survivor')).toHaveLength(
      ids.length - beforeKill.length + twice.length,
    );
    console.info(
      `${dest}: ${beforeKill.length}/${ids.length} handled before the kill, ${twice.length} handled twice (prefetch ${prefetch})`,
    );
  } finally {
    child.kill('SIGKILL');
    await survivor?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function restartMidStream(
  restartBroker: () => Promise<void>,
  create: () => Promise<TransportUnderTest>,
): Promise<void> {
  const { transport, destination } = await create();
  const dest = destination();
  const handled = new Set<number>();
  const waiters: { test: () => boolean; done: () => void }[] = [];
  const until = (test: () => boolean) =>
    new Promise<void>((done) => {
      if (test()) done();
      else waiters.push({ test, done });
    });
  const consumer = await transport.subscribe(
    dest,
    'survivor',
    async (m) => {
      await work(2);
      handled.add((m.data as { n: number }).n);
      for (const waiter of waiters.splice(0)) {
        if (waiter.test()) waiter.done();
        else waiters.push(waiter);
      }
    },
    // A settle lost with the connection is redelivered by the broker: expected here.
    { concurrency: 4, onSettleError: () => undefined },
  );
  let phase: 'before' | 'restarting' | 'after' | 'abandoned' = 'before';
  // Read through a call: the test moves the phase on while the publisher runs.
  const now = () => phase;
  const published: number[] = [];
  let publishedAfter = 0;
  let refused = 0;
  // Publishes batch after batch, through the restart and 50 messages past it. While the broker
  // is away a publish fails with a typed error, and the same batch is published again.
  const publisher = (async () => {
    for (let n = 0; now() !== 'abandoned' && (now() !== 'after' || publishedAfter < 50); n += 10) {
      const batch = Array.from({ length: 10 }, (_, i) => ({ type: 'Tick', data: { n: n + i } }));
      for (;;) {
        try {
          await transport.publish(dest, batch);
          break;
        } catch (error) {
          if (now() === 'abandoned' || !isStoreUnavailableError(error)) throw error;
          refused++;
          await work(50);
        }
      }
      published.push(...batch.map((m) => m.data.n));
      if (now() === 'after') publishedAfter += batch.length;
      await work(10);
    }
  })();
  // A publisher that fails for another reason fails the test instead of leaving it waiting.
  const orFailure = <T>(waiting: Promise<T>) =>
    Promise.race([waiting, publisher.then(() => waiting)]);
  try {
    await orFailure(until(() => handled.size >= 20));
    phase = 'restarting';
    await orFailure(restartBroker());
    const handledBefore = handled.size;
    phase = 'after';
    await publisher;
    await until(() => published.every((n) => handled.has(n)));
    // The consumer was never re-subscribed: what it handled after the restart, it resumed alone.
    expect(handled.size).toBeGreaterThan(handledBefore);
    expect(publishedAfter).toBeGreaterThanOrEqual(50);
    expect([...handled].sort((x, y) => x - y)).toEqual(published);
    console.info(`${dest}: ${published.length} published, ${refused} publishes refused meanwhile`);
  } finally {
    phase = 'abandoned';
    await publisher.catch(() => undefined);
    await consumer.stop();
  }
}

/** Runs `transport-worker.ts` in a child process; `handled(n)` resolves once it handled n. */
function spawnWorker(spec: WorkerSpec) {
  let ready = false;
  let handled = 0;
  const waiters: { test: () => boolean; done: () => void }[] = [];
  const child = spawnFixture(fileURLToPath(new URL('./transport-worker.ts', import.meta.url)), [], {
    [WORKER_ENV]: JSON.stringify(spec),
  });
  child.lines.on('line', (text) => {
    const line = JSON.parse(text) as { ready?: boolean; handled?: string };
    if (line.ready) ready = true;
    if (line.handled !== undefined) handled++;
    for (const waiter of waiters.splice(0)) {
      if (waiter.test()) waiter.done();
      else waiters.push(waiter);
    }
  });
  const until = (test: () => boolean) =>
    new Promise<void>((done, reject) => {
      if (test()) return done();
      waiters.push({ test, done });
      void child.exited.then(() =>
        reject(new Error(`the worker process exited: ${child.stderr()}`)),
      );
    });
  return Object.assign(child, {
    ready: () => until(() => ready),
    handled: (count: number) => until(() => handled >= count),
  });
}
