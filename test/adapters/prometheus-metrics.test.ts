import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createEventStore,
  createTransport,
  PermanentError,
  ProjectionRunner,
  toMessage,
  ValidationError,
  type SettledDelivery,
  type Transport,
} from 'causeway';
import { CausewayMetrics } from 'causeway/prometheus';
import {
  createSqliteProjectionStore,
  SqliteEventStoreDriver,
  SqliteOutboxStore,
  SqliteSagaStore,
  SqliteTransportDriver,
} from 'causeway/sqlite';
import { leftBehind } from '../sagas/fixtures.js';
import { seedTicks, tallyProjection } from './fixtures/tally-projection.js';

const root = mkdtempSync(join(tmpdir(), 'causeway-prometheus-'));
let files = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The value of one series in Prometheus text format (`undefined` when absent). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('CausewayMetrics on SQLite stores', () => {
  let registry: Registry;
  let metrics: CausewayMetrics;
  let driver: SqliteTransportDriver;
  let transport: Transport;
  let warnings: { error: unknown; source: string }[];

  beforeEach(() => {
    registry = new Registry();
    warnings = [];
    metrics = new CausewayMetrics({
      registry,
      onCollectError: (error, source) => warnings.push({ error, source }),
    });
    driver = new SqliteTransportDriver({
      filename: join(root, `service-${++files}.db`),
      pollIntervalMs: 10,
    });
    transport = createTransport(driver);
  });
  afterEach(() => transport.close());

  it('counts handled, failed, retried and dead-lettered messages per destination and group, with durations', async () => {
    const settled: SettledDelivery[] = [];
    let waiter: { count: number; resolve: () => void } | undefined;
    let flakyFailures = 0;
    await transport.subscribe(
      'orders',
      'billing',
      (message) => {
        if (message.type === 'Bad') throw new PermanentError('cannot bill');
        if (message.type === 'Flaky' && flakyFailures++ < 2) throw new Error('try again');
      },
      {
        retry: { initialDelayMs: 1, maxDelayMs: 5, maxAttempts: 5 },
        observer: {
          // The metrics' observer first, then the test's: a scrape after the wait sees it all.
          settled: (delivery) => {
            metrics.consumerObserver.settled(delivery);
            settled.push(delivery);
            if (waiter && settled.length >= waiter.count) waiter.resolve();
          },
        },
      },
    );
    const done = new Promise<void>((resolve) => (waiter = { count: 6, resolve }));
    await transport.publish('orders', [
      { type: 'Ok', data: 1 },
      { type: 'Ok', data: 2 },
      { type: 'Bad', data: 3 },
      { type: 'Flaky', data: 4 },
    ]);
    await done;

    const text = await registry.metrics();
    const labels = '{destination="orders",group="billing"}';
    expect(sample(text, `causeway_messages_handled_total${labels}`)).toBe(3);
    expect(sample(text, `causeway_messages_failed_total${labels}`)).toBe(3);
    expect(sample(text, `causeway_messages_retried_total${labels}`)).toBe(2);
    expect(
      sample(
        text,
        'causeway_messages_dead_lettered_total{destination="orders",group="billing",reason="permanent_error"}',
      ),
    ).toBe(1);
    const count = (outcome: string) =>
      sample(
        text,
        `causeway_handler_duration_seconds_count{destination="orders",group="billing",outcome="${outcome}"}`,
      );
    expect([count('acked'), count('retried'), count('dead_lettered')]).toEqual([3, 2, 1]);
    expect(settled.map((s) => s.outcome).sort()).toEqual([
      'acked',
      'acked',
      'acked',
      'dead_lettered',
      'retried',
      'retried',
    ]);

    // The dead letter is counted from the store, for the destination the observer saw.
    metrics.watchDeadLetters(driver.deadLetterStore, { destinations: ['invoices'] });
    const scraped = await registry.metrics();
    expect(sample(scraped, 'causeway_dead_letters{destination="orders"}')).toBe(1);
    expect(sample(scraped, 'causeway_dead_letters{destination="invoices"}')).toBe(0);
    await driver.deadLetterStore.purge({ destination: 'orders' });
    expect(sample(await registry.metrics(), 'causeway_dead_letters{destination="orders"}')).toBe(0);
  });

  it('an undecodable or unknown message is dead-lettered without a handler duration', async () => {
    const settled = new Promise<SettledDelivery>((resolve) => {
      void transport.subscribe('orders', 'billing', () => undefined, {
        types: ['Known'],
        observer: {
          settled: (delivery) => {
            metrics.consumerObserver.settled(delivery);
            resolve(delivery);
          },
        },
      });
    });
    await transport.publish('orders', [{ type: 'Unknown', data: 1 }]);
    expect(await settled).toMatchObject({ outcome: 'dead_lettered', reason: 'unknown_type' });
    const text = await registry.metrics();
    expect(
      sample(
        text,
        'causeway_messages_dead_lettered_total{destination="orders",group="billing",reason="unknown_type"}',
      ),
    ).toBe(1);
    expect(
      sample(text, 'causeway_messages_failed_total{destination="orders",group="billing"}'),
    ).toBeUndefined();
    expect(text).not.toContain('causeway_handler_duration_seconds_count{');
  });

  it('reads the outbox backlog per destination at scrape time; a drained destination stays at 0', async () => {
    const outbox = new SqliteOutboxStore(driver.database);
    metrics.watchOutbox(outbox);
    expect(await registry.metrics()).not.toContain('causeway_outbox_pending{');
    const written = Date.now();
    driver.database.transaction(() => {
      outbox.write(driver.database, 'emails', [toMessage({ type: 'A', data: 1 })]);
      outbox.write(driver.database, 'emails', [toMessage({ type: 'B', data: 2 })]);
      outbox.write(driver.database, 'sms', [toMessage({ type: 'C', data: 3 })]);
    })();
    let text = await registry.metrics();
    expect(sample(text, 'causeway_outbox_pending{destination="emails"}')).toBe(2);
    expect(sample(text, 'causeway_outbox_pending{destination="sms"}')).toBe(1);
    const age = sample(text, 'causeway_outbox_oldest_age_seconds{destination="emails"}')!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThanOrEqual((Date.now() - written + 1) / 1000);

    const claimed = await outbox.claim('relay', 10, 30_000);
    await outbox.markSent(
      'relay',
      claimed.filter((r) => r.destination === 'emails').map((r) => r.sequence),
    );
    text = await registry.metrics();
    expect(sample(text, 'causeway_outbox_pending{destination="emails"}')).toBe(0);
    expect(sample(text, 'causeway_outbox_oldest_age_seconds{destination="emails"}')).toBe(0);
    expect(sample(text, 'causeway_outbox_pending{destination="sms"}')).toBe(1);
  });

  it('reports projection lag as head minus checkpoint, and the head position', async () => {
    const events = createEventStore(new SqliteEventStoreDriver({ database: driver.database }));
    const projections = createSqliteProjectionStore({ database: driver.database });
    const projection = tallyProjection();
    await projections.prepare(projection);
    metrics.watchProjections(projections, events);
    metrics.watchEventStore(events);
    await seedTicks(events, 120);
    let text = await registry.metrics();
    const series = 'projection="tally",version="1",status="active"';
    expect(sample(text, `causeway_projection_lag_events{${series}}`)).toBe(120);
    expect(sample(text, `causeway_projection_position{${series}}`)).toBe(0);
    expect(sample(text, `causeway_projection_paused{${series}}`)).toBe(0);
    expect(sample(text, 'causeway_event_store_head_position')).toBe(120);

    const runner = new ProjectionRunner({ store: events, projections, projection });
    await runner.waitForPosition(120, { timeoutMs: 10_000 });
    await runner.stop();
    await projections.setPaused('tally', 1, true);
    text = await registry.metrics();
    expect(sample(text, `causeway_projection_lag_events{${series}}`)).toBe(0);
    expect(sample(text, `causeway_projection_position{${series}}`)).toBe(120);
    expect(sample(text, `causeway_projection_paused{${series}}`)).toBe(1);
  });

  it('counts sagas per name and status, every status of a seen saga at 0', async () => {
    const sagas = new SqliteSagaStore(driver.database);
    metrics.watchSagas(sagas);
    const create = (id: string, status: 'running' | 'completed') =>
      leftBehind(sagas, new Date(), { id, name: 'checkout', currentStep: undefined, status });
    await create('o-1', 'completed');
    await create('o-2', 'completed');
    await create('o-3', 'running');
    const text = await registry.metrics();
    const count = (status: string) =>
      sample(text, `causeway_sagas{saga="checkout",status="${status}"}`);
    expect(count('completed')).toBe(2);
    expect(count('running')).toBe(1);
    expect(count('failed')).toBe(0);
    expect(count('compensation_failed')).toBe(0);
  });

  it('a store that cannot be read leaves its series out, counts the error and the rest still answers', async () => {
    const outbox = new SqliteOutboxStore(driver.database);
    driver.database.transaction(() =>
      outbox.write(driver.database, 'emails', [toMessage({ type: 'A', data: 1 })]),
    )();
    metrics.watchOutbox(outbox);
    const unwatch = metrics.watchSagas({
      countByStatus: () => Promise.reject(new Error('database is locked')),
    });
    let text = await registry.metrics();
    expect(sample(text, 'causeway_outbox_pending{destination="emails"}')).toBe(1);
    expect(text).not.toContain('causeway_sagas{');
    expect(sample(text, 'causeway_metrics_collect_errors_total{source="sagas"}')).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.source).toBe('sagas');
    unwatch();
    text = await registry.metrics();
    expect(sample(text, 'causeway_metrics_collect_errors_total{source="sagas"}')).toBe(1);
  });

  it('refuses a prefix Prometheus would not accept', () => {
    expect(() => new CausewayMetrics({ registry: new Registry(), prefix: '9x' })).toThrow(
      ValidationError,
    );
    const custom = new CausewayMetrics({ registry: new Registry(), prefix: 'shop_' });
    expect(custom.registry.getSingleMetric('shop_messages_handled_total')).toBeDefined();
  });
});
