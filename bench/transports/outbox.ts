import { performance } from 'node:perf_hooks';
import {
  createTransport,
  newId,
  OutboxRelay,
  type Message,
  type OutboxStore,
  type TransportDriver,
} from 'causeway';
import { MESSAGE_TYPE, payload, payloads, type Payload } from './workload.js';

/**
 * The outbox relay cases, shared by `outbox-sqlite.ts` and `outbox-postgres.ts`. Each round
 * first writes `count` messages into the outbox in application transactions of
 * `OUTBOX_WRITE_TX` (untimed), then times the relay from its start until the last of them was
 * published (confirmed by the broker, or committed to the SQL queue) and marked sent. Both
 * sides claim `OUTBOX_BATCH` records at a time, publish them in one confirmed publish and mark
 * them sent; where the store can do the three in one transaction (SQLite outbox → SQLite
 * transport on the same file), Causeway's relay does, as it would in an application.
 */

export const OUTBOX_WRITE_TX = 10;
export const OUTBOX_BATCH = 100;
export const OUTBOX_DESTINATION = 'outbox';
export const OUTBOX_GROUP = 'bench';

export type OutboxTarget = 'queue' | 'rabbitmq';

/** One side of an outbox case, opened once on fresh storage. */
export interface OutboxContestant {
  /** Writes `count` messages (untimed), then relays them all; returns the relay's time. */
  relay(count: number): Promise<{ units: number; elapsedMs: number }>;
  close(): Promise<void>;
}

export type OutboxEntrant =
  { label: string; open: () => Promise<OutboxContestant> } | { reason: string };

export function outboxCaseName(backend: string, target: OutboxTarget): string {
  return `${backend} · outbox relay → ${target === 'queue' ? `${backend} queue` : 'rabbitmq'}`;
}

/** A message as `OutboxStore.write` takes it: what `transport.publish` would have built. */
export function outboxMessage(i: number): Message<Payload> {
  return {
    id: newId(),
    source: 'causeway',
    type: MESSAGE_TYPE,
    specversion: '1.0',
    time: new Date(),
    datacontenttype: 'application/json',
    data: payload(i),
    extensions: {},
  };
}

/** The untimed part of a round: `count` messages in application transactions of 10. */
class Backlog {
  #next = 0;

  async write(count: number, transaction: (first: number, size: number) => Promise<void>) {
    for (let written = 0; written < count; written += OUTBOX_WRITE_TX) {
      const size = Math.min(OUTBOX_WRITE_TX, count - written);
      await transaction(this.#next, size);
      this.#next += size;
    }
  }
}

/**
 * Counts the records a store saw settled (marked sent after the broker confirmed them, or
 * relayed in one transaction where the store writes to the driver directly), so a round can
 * wait for the relay's last batch, as the raw relay's round ends with its last mark-sent.
 */
function countingStore(inner: OutboxStore) {
  let settled = 0;
  let waiter: { count: number; resolve: () => void } | undefined;
  const count = (records: number) => {
    settled += records;
    if (waiter && settled >= waiter.count) {
      waiter.resolve();
      waiter = undefined;
    }
  };
  const { relayInto, onWrite } = inner;
  const store: OutboxStore = {
    claim: (...args) => inner.claim(...args),
    release: (...args) => inner.release(...args),
    cleanup: (...args) => inner.cleanup(...args),
    backlog: () => inner.backlog(),
    markSent: async (owner, sequences) => {
      await inner.markSent(owner, sequences);
      count(sequences.length);
    },
    ...(onWrite && { onWrite: (listener) => onWrite.call(inner, listener) }),
    ...(relayInto && {
      relayInto: async (driver, owner, limit) => {
        const relayed = await relayInto.call(inner, driver, owner, limit);
        if (relayed !== undefined) count(relayed);
        return relayed;
      },
    }),
  };
  return {
    store,
    /** Resolves once `records` more records were settled than when this was called. */
    next: (records: number) =>
      new Promise<void>((resolve) => (waiter = { count: settled + records, resolve })),
  };
}

/**
 * Causeway's side on any outbox store and driver: `write` adds messages in one application
 * transaction; each round starts an `OutboxRelay` (batch 100) on the backlog and stops it once
 * all were published and marked sent. The destination gets its consumer group first (subscribed, then
 * stopped), so the SQL queue stores each message for it and RabbitMQ routes it to a queue.
 */
export async function causewayOutbox(options: {
  store: OutboxStore;
  driver: TransportDriver;
  write: (messages: Message[]) => Promise<void>;
  close: () => Promise<void>;
}): Promise<OutboxContestant> {
  const { driver } = options;
  const { store, next } = countingStore(options.store);
  const transport = createTransport(driver);
  const idle = await transport.subscribe(OUTBOX_DESTINATION, OUTBOX_GROUP, () => undefined);
  await idle.stop();
  const backlog = new Backlog();
  return {
    relay: async (count) => {
      await backlog.write(count, (first, size) =>
        options.write(Array.from({ length: size }, (_, k) => outboxMessage(first + k))),
      );
      const done = next(count);
      const started = performance.now();
      const relay = new OutboxRelay({
        store,
        driver,
        batchSize: OUTBOX_BATCH,
        onError: (error) => console.error(`outbox relay: ${String(error)}`),
      });
      await done;
      const elapsedMs = performance.now() - started;
      await relay.stop();
      return { units: count, elapsedMs };
    },
    close: async () => {
      await transport.close();
      await options.close();
    },
  };
}

/** What the raw relay loop needs from its database and broker. */
export interface RawOutbox<Row> {
  /** Untimed: adds `messages` in one transaction. */
  write(bodies: readonly Payload[]): Promise<void>;
  /** Claims up to `limit` unsent rows, oldest first, under a lease. */
  claim(limit: number): Promise<Row[]>;
  publish(rows: readonly Row[]): Promise<void>;
  markSent(rows: readonly Row[]): Promise<void>;
  close(): Promise<void>;
}

/** The raw side: the same writes, then claim → publish → mark sent until nothing is left. */
export function rawOutbox<Row>(outbox: RawOutbox<Row>): OutboxContestant {
  const backlog = new Backlog();
  return {
    relay: async (count) => {
      await backlog.write(count, (first, size) => outbox.write(payloads(first, size)));
      const started = performance.now();
      let relayed = 0;
      while (relayed < count) {
        const rows = await outbox.claim(OUTBOX_BATCH);
        if (rows.length === 0) throw new Error(`raw relay: ${relayed} of ${count} rows found`);
        await outbox.publish(rows);
        await outbox.markSent(rows);
        relayed += rows.length;
      }
      return { units: count, elapsedMs: performance.now() - started };
    },
    close: () => outbox.close(),
  };
}
