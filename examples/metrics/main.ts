/**
 * Prometheus metrics for a Causeway service on one SQLite file: the consumer runtime's
 * counters and handler durations, and gauges read from the stores at scrape time (dead
 * letters, outbox backlog, projection lag, sagas per status). Prints the scrape; with
 * `--serve` it keeps serving it on http://127.0.0.1:9464/metrics.
 *
 *   node --conditions=source --import tsx examples/metrics/main.ts [--serve]
 */
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
// #region snippet
import { Registry } from 'prom-client';
import { createTransport, PermanentError, toMessage } from 'causeway';
import { CausewayMetrics } from 'causeway/prometheus';
import {
  openSqliteDatabase,
  SqliteOutboxStore,
  SqliteSagaStore,
  SqliteTransportDriver,
} from 'causeway/sqlite';

export async function startMetricsExample(filename = ':memory:') {
  const db = openSqliteDatabase(filename);
  const broker = new SqliteTransportDriver({ database: db, pollIntervalMs: 10 });
  const transport = createTransport(broker);
  const outbox = new SqliteOutboxStore(db);

  const registry = new Registry();
  const metrics = new CausewayMetrics({ registry });
  metrics.watchDeadLetters(broker.deadLetterStore);
  metrics.watchOutbox(outbox);
  metrics.watchSagas(new SqliteSagaStore(db));
  // With an event store and projections: metrics.watchProjections(projectionStore, eventStore)

  let settled = 0;
  let allSettled!: () => void;
  const done = new Promise<void>((resolve) => (allSettled = resolve));
  await transport.subscribe(
    'orders',
    'billing',
    (message) => {
      if (message.type === 'OrderRefused') throw new PermanentError('cannot bill a refusal');
    },
    {
      // The metrics' observer counts every settled delivery; the wrapper only lets the
      // example wait for its three messages.
      observer: {
        settled: (delivery) => {
          metrics.consumerObserver.settled(delivery);
          if (++settled === 3) allSettled();
        },
      },
    },
  );
  await transport.publish('orders', [
    { type: 'OrderPlaced', data: { id: 'o-1' } },
    { type: 'OrderPlaced', data: { id: 'o-2' } },
    { type: 'OrderRefused', data: { id: 'o-3' } },
  ]);
  await done;
  // Written, not yet relayed: shows as backlog.
  db.transaction(() =>
    outbox.write(db, 'emails', [toMessage({ type: 'Receipt', data: { id: 'o-1' } })]),
  )();

  // Any HTTP framework: answer GET /metrics with the registry's text.
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') return void response.writeHead(404).end();
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  const close = async () => {
    await new Promise((resolve) => server.close(resolve));
    await transport.close();
    db.close();
  };
  return { server, registry, close };
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { server, registry, close } = await startMetricsExample();
  console.log(
    (await registry.metrics())
      .split('\n')
      .filter((line) => line.startsWith('causeway_') && !line.includes('_bucket{'))
      .join('\n'),
  );
  if (process.argv.includes('--serve')) {
    server.listen(9464, '127.0.0.1', () =>
      console.log('serving http://127.0.0.1:9464/metrics (Ctrl-C to stop)'),
    );
    process.once('SIGINT', () => void close());
  } else {
    await close();
  }
}
