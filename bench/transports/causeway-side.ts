import { createTransport, type TransportDriver } from 'causeway';
import { loadAdapter } from '../causeway.js';
import {
  BATCH_SIZE,
  CONCURRENCY,
  endToEndRound,
  MESSAGE_TYPE,
  payload,
  payloads,
  PREFETCH,
  Tally,
  type Payload,
  type TransportContestant,
  type TransportEntrant,
} from './workload.js';

/** The publish-only destination and the one consumed end to end, with their group. */
export interface BenchNames {
  publish: string;
  endToEnd: string;
  group: string;
}

/** The names every Causeway contestant uses (drivers get a unique prefix of their own). */
export const BENCH_NAMES: BenchNames = { publish: 'publish', endToEnd: 'e2e', group: 'bench' };

/** A driver that can delete what a destination left on the broker (streams, topics). */
type DeletingDriver = TransportDriver & { deleteDestination(destination: string): Promise<void> };

/** An adapter's driver class, as far as the bench uses it: `connect` with its options. */
export interface DeletingDriverClass<Options> {
  connect(options: Options): Promise<DeletingDriver>;
}

/**
 * The Causeway entrant of a broker adapter (`causeway/<name>`, exporting `driverExport`):
 * loaded when its sources exist, else an entrant that names why it cannot run.
 */
export async function adapterEntrant<Options>(
  name: string,
  driverExport: string,
  open: (driver: DeletingDriverClass<Options>) => Promise<TransportContestant>,
): Promise<TransportEntrant> {
  const adapter = await loadAdapter<Record<string, DeletingDriverClass<Options>>>(
    `causeway/${name}`,
    `src/adapters/${name}/index.ts`,
    [driverExport],
  );
  if (!adapter.ok) return { reason: adapter.reason };
  const driver = adapter.module[driverExport]!;
  return { label: `causeway/${name}`, open: () => open(driver) };
}

/**
 * `causewayContestant` for drivers whose cleanup needs a connection: the transport closes the
 * driver it measured, so the destinations are deleted through a second one.
 */
export async function causewayDeletingDestinations(
  connect: () => Promise<DeletingDriver>,
  names: BenchNames = BENCH_NAMES,
): Promise<TransportContestant> {
  const driver = await connect();
  return causewayContestant(driver, names, async () => {
    const cleaner = await connect();
    try {
      for (const destination of [names.publish, names.endToEnd])
        await cleaner.deleteDestination(destination);
    } finally {
      await cleaner.close();
    }
  });
}

/**
 * Causeway on any driver, the way applications use it: `createTransport(driver)`,
 * `transport.publish` (confirmed), and `subscribe` with the consumer runtime's defaults
 * (8 handlers, prefetch 16, per-key lanes, retries and dead letters armed). The publish-only
 * destination gets its group created first (subscribed, then stopped), so every message is
 * stored for one group, as on the raw side.
 */
export async function causewayContestant(
  driver: TransportDriver,
  names: BenchNames,
  cleanup: () => Promise<void>,
): Promise<TransportContestant> {
  const transport = createTransport(driver);
  const tally = new Tally();
  try {
    const idle = await transport.subscribe(names.publish, names.group, () => undefined);
    await idle.stop();
    await transport.subscribe(
      names.endToEnd,
      names.group,
      (message) => tally.receive(message.data as Payload),
      { concurrency: CONCURRENCY, prefetch: PREFETCH },
    );
  } catch (error) {
    await transport.close().catch(() => undefined);
    await cleanup().catch(() => undefined);
    throw error;
  }
  const outgoing = (messages: readonly Payload[]) =>
    messages.map((data) => ({ type: MESSAGE_TYPE, data }));
  return {
    publishOne: async (i) => {
      await transport.publish(names.publish, outgoing([payload(i)]));
    },
    publishBatch: async (i, size) => {
      await transport.publish(names.publish, outgoing(payloads(i * BATCH_SIZE, size)));
    },
    endToEnd: (count) =>
      endToEndRound(tally, count, async (messages) => {
        await transport.publish(names.endToEnd, outgoing(messages));
      }),
    close: async () => {
      await transport.close();
      await cleanup();
    },
  };
}
