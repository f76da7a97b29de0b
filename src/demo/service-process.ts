/**
 * Entry point of one service process in distributed mode:
 *
 *   node service-process.js <inventory|payments|shipping> <postgres-url> <schema> <broker> <prefix>
 *
 * It opens its own pool and broker connection, creates its tables, starts consuming its
 * destination and prints `ready <service>` on stdout — the parent waits for that line, not
 * for a timer. SIGTERM drains and exits 0; SIGKILL is the crash test's business.
 */
import { createTransport } from '../messaging/create-transport.js';
import { BROKERS, openBroker, openPostgresPool, type BrokerKind } from './brokers.js';
import { startService, type ServiceName } from './services.js';

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
  const { sql } = await openPostgresPool({ url, schema }, 4);
  const transport = createTransport(await openBroker(broker as BrokerKind, prefix));
  const consumer = await startService(service as ServiceName, sql, transport, {
    concurrency: 16,
  });
  process.stdout.write(`ready ${service}\n`);
  const stop = async () => {
    await consumer.stop();
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
