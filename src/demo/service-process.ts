/**
 * Entry point of one service process in distributed mode:
 *
 *   node service-process.js <inventory|payments|shipping> <postgres-url> <schema> <broker> <prefix>
 *
 * It opens its own pool and broker connection, creates its tables, starts consuming its
 * destination, serves its own `GET /metrics` on an ephemeral loopback port and prints
 * `ready <service> <metrics-url>` on stdout — the parent waits for that line, not for a timer. SIGTERM drains and exits 0; SIGKILL is the crash test's business.
 */
import { createTransport } from '../messaging/create-transport.js';
import { BROKERS, openBroker, openPostgresPool, type BrokerKind } from './brokers.js';
import { metricsApi } from './http.js';
import { serviceMetrics } from './metrics.js';
import { DESTINATIONS, startService, type ServiceName } from './services.js';

const SERVICES: readonly ServiceName[] = ['inventory', 'payments', 'shipping'];

async function main(argv: readonly string[]): Promise<void> {
  const [service, url, schema, broker, prefix] = argv;
  if (
    !SERVICES.includes(service as ServiceName) ||
    !url ||
    !schema ||
    !BROKERS.includes(broker as BrokerKind) ||
    !prefix
  )
    throw new Error(
      'usage: service-process <inventory|payments|shipping> <postgres-url> <schema> <kafka|rabbitmq|nats> <prefix>',
    );
  const name = service as ServiceName;
  const { sql } = await openPostgresPool({ url, schema }, 4);
  const driver = await openBroker(broker as BrokerKind, prefix);
  const transport = createTransport(driver);
  const metrics = serviceMetrics(driver.deadLetterStore, DESTINATIONS[name]);
  const consumer = await startService(name, sql, transport, {
    concurrency: 16,
    ...metrics.consumer,
  });
  const app = metricsApi(metrics);
  const served = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`ready ${service} ${served}/metrics\n`);
  const stop = async () => {
    await consumer.stop();
    await app.close();
    await transport.close();
    await sql.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
