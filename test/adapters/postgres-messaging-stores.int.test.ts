import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { OutboxRelay, toMessage } from 'causeway';
import {
  createPostgresEventStore,
  createPostgresIdempotencyStore,
  createPostgresOutboxStore,
  withTransaction,
} from 'causeway/postgres';
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

idempotencyExpiryCase('PostgresIdempotencyStore', async () => {
  const store = await createPostgresIdempotencyStore({
    connectionString: postgresUrl,
    schema: eventSchemas.next(),
  });
  return { store, close: () => store.close() };
});
