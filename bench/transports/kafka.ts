import { existsSync } from 'node:fs';
import type { TransportEntrant } from './workload.js';

/**
 * Kafka: the hook for `causeway/kafka` (the adapter lands separately). The planned contestants
 * mirror the others: the raw side is `@platformatic/kafka`'s producer with `acks: -1` (all)
 * and `idempotent: true`, awaiting each `send`, and a consumer group committing after the
 * handler; Causeway's side is `KafkaTransportDriver` through `createTransport`. Until the
 * adapter's entry exists, both columns report why they are empty.
 */

export const KAFKA_ENTRY = 'src/adapters/kafka/index.ts';

export function kafkaBrokers(env: NodeJS.ProcessEnv = process.env): string {
  return env['CAUSEWAY_KAFKA_BROKERS'] ?? '127.0.0.1:9092';
}

/** Why the Kafka cases cannot run yet, or `undefined` once the adapter is there. */
export function kafkaPending(): string | undefined {
  if (!existsSync(new URL(`../../${KAFKA_ENTRY}`, import.meta.url)))
    return `causeway/kafka has not landed (${KAFKA_ENTRY} is missing); bench/transports/kafka.ts is the hook for it`;
  return 'causeway/kafka exists but bench/transports/kafka.ts does not measure it yet (the contestants are still to be written)';
}

export function kafkaEntrants(): { baseline: TransportEntrant; causeway: TransportEntrant } {
  const reason = kafkaPending() ?? 'not measured';
  return { baseline: { reason }, causeway: { reason } };
}
