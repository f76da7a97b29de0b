import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createTransport, OutboxRelay, toMessage, type Message } from 'causeway';
import {
  createPostgresEventStore,
  createPostgresIdempotencyStore,
  createPostgresOutboxStore,
  createPostgresTransportDriver,
  withTransaction,
} from 'causeway/postgres';
import { collector } from './fixtures/collector.js';
import {
  expectExactlyOnceInOrder,
  outboxContract,
  recordingBroker,
} from '../contracts/outbox.contract.js';
import { idempotencyContract } from '../contracts/idempotency.contract.js';
import { inboxContract } from '../contracts/inbox.contract.js';
import {
  postgresIdempotencyHarness,
  postgresInboxHarness,
  postgresOutboxHarness,
  postgresSchemas,
  postgresUrl,
} from './fixtures/postgres-messaging-harness.js';
import { eventOutboxCases } from './fixtures/event-outbox-cases.js';
import { idempotencyExpiryCase } from './fixtures/idempotency-expiry-case.js';

outboxContract(postgresOutboxHarness());
inboxContract(postgresInboxHarness());
idempotencyContract(postgresIdempotencyHarness());

const eventSchemas = postgresSchemas();
const eventSchema = eventSchemas.next();
eventOutboxCases({
  name: 'postgres',
  async open(destination) {
    const options = { connectionString: postgresUrl, schema: eventSchema };
    const events = await createPostgresEventStore({ ...options, outbox: { destination } });
    // The relay's store has a pool of its own, as a relay process would.
    const outbox = await createPostgresOutboxStore(options);
    return {
      events,
      outbox,
      pending: () => outbox.pending(),
      listening: () => outbox.listening(),
      async close() {
        await events.close();
        await outbox.close();
      },
    };
  },
  cleanup: () => eventSchemas.drop(),
});

describe('PostgreSQL outbox: relays in several processes', () => {
  const schemas = postgresSchemas();
  afterAll(() => schemas.drop());

  it('4 relays, 2,000 messages over 50 keys written while they run: each published once, in order per key', async () => {
    const schema = schemas.next();
    const relayCount = 4;
    const total = 2_000;
    const keys = 50;
    // One store (own pool, own LISTEN connection) per relay, as separate processes would have.
    const stores = await Promise.all(
      Array.from({ length: relayCount }, () =>
        createPostgresOutboxStore({ connectionString: postgresUrl, schema }),
      ),
    );
    const app = new pg.Pool({ connectionString: postgresUrl, max: 4 });
    const broker = recordingBroker();
    const errors: unknown[] = [];
    const relays = stores.map(
      (store) =>
        new OutboxRelay({
          store,
          driver: broker.driver,
          batchSize: 50,
          pollIntervalMs: 50,
          onError: (e) => errors.push(e),
        }),
    );
    const started = performance.now();
    try {
      // 200 transactions of 10, four writers at a time, while the relays claim.
      const writer = stores[0]!;
      for (let batch = 0; batch < total / 10; batch += 4) {
        await Promise.all(
          [0, 1, 2, 3].map((w) =>
            withTransaction(app, (client) =>
              writer.write(
                client,
                'orders',
                Array.from({ length: 10 }, (_, j) => {
                  const i = (batch + w) * 10 + j;
                  return toMessage({
                    type: 'OrderChanged',
                    data: { i },
                    partitionkey: `k${i % keys}`,
                  });
                }),
              ),
            ),
          ),
        );
      }
      await broker.reached(total);
    } finally {
      await Promise.all(relays.map((relay) => relay.stop()));
    }
    const elapsedMs = performance.now() - started;
    expectExactlyOnceInOrder(broker.published, total);
    const shares = relays.map((relay) => relay.published);
    expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
    expect(await stores[0]!.pending()).toBe(0);
    expect(errors).toEqual([]);
    console.info(
      `outbox multi-relay: ${total} messages, ${keys} keys, ${relayCount} relays: ` +
        `${Math.round(elapsedMs)} ms (${Math.round((total / elapsedMs) * 1000)} msg/s), ` +
        `per relay ${shares.join('/')}, duplicates 0`,
    );
    await app.end();
    await Promise.all(stores.map((store) => store.close()));
  }, 60_000);
});

describe('PostgreSQL outbox relayed into the transport of its own schema', () => {
  const schemas = postgresSchemas();
  afterAll(() => schemas.drop());

  it('claims, copies and marks sent in one statement: each message once, in order per key', async () => {
    const schema = schemas.next();
    const options = { connectionString: postgresUrl, schema };
    const store = await createPostgresOutboxStore(options);
    const driver = await createPostgresTransportDriver(options);
    const elsewhere = await createPostgresTransportDriver({ ...options, schema: schemas.next() });
    const transport = createTransport(driver);
    const app = new pg.Pool({ connectionString: postgresUrl, max: 2 });
    const seen = collector<Message>(30);
    await transport.subscribe('orders', 'billing', (m) => seen.add(m));
    const written = Array.from({ length: 30 }, (_, i) =>
      toMessage({ type: 'OrderChanged', data: { i }, partitionkey: `k${i % 3}` }),
    );
    const errors: unknown[] = [];
    const markSent = vi.spyOn(store, 'markSent');
    const relay = new OutboxRelay({ store, driver, batchSize: 7, onError: (e) => errors.push(e) });
    try {
      for (let t = 0; t < 3; t++)
        await withTransaction(app, (client) =>
          store.write(client, 'orders', written.slice(t * 10, t * 10 + 10)),
        );
      await seen.complete;
    } finally {
      await relay.stop();
    }
    expect(errors).toEqual([]);
    for (const key of ['k0', 'k1', 'k2']) {
      const ids = (list: readonly Message[]) =>
        list.filter((m) => m.partitionkey === key).map((m) => m.id);
      expect(ids(seen.items)).toEqual(ids(written));
    }
    // Copied once each (no publish beside the copy), and settled in the outbox.
    const { rows } = await app.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema}".causeway_messages`,
    );
    expect(rows[0]!.n).toBe(30);
    expect(await store.pending()).toBe(0);
    expect(relay.published).toBe(30);
    expect(markSent).not.toHaveBeenCalled();
    // The direct path is this driver's only: another schema's driver gets the usual relay.
    expect(await store.relayInto(driver, 'relay-b', 10)).toBe(0);
    expect(await store.relayInto(elsewhere, 'relay-b', 10)).toBeUndefined();
    await transport.close();
    await elsewhere.close();
    await store.close();
    await app.end();
  });
});

idempotencyExpiryCase('PostgresIdempotencyStore', async () => {
  const store = await createPostgresIdempotencyStore({
    connectionString: postgresUrl,
    schema: eventSchemas.next(),
  });
  return { store, close: () => store.close() };
});
