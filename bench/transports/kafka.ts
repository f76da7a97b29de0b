import {
  Admin,
  Consumer,
  Producer,
  stringDeserializers,
  stringSerializers,
  type MessagesStream,
} from '@platformatic/kafka';
import { adapterEntrant, causewayDeletingDestinations } from './causeway-side.js';
import {
  BATCH_SIZE,
  cloudEventHeaders,
  endToEndRound,
  payload,
  payloads,
  PREFETCH,
  Tally,
  uniqueName,
  type Payload,
  type TransportEntrant,
} from './workload.js';

/**
 * Kafka contestants: topics of `PARTITIONS` partitions (Causeway's default), the broker's
 * replication factor, an idempotent producer with `acks: -1` (all) awaiting each send, and a
 * consumer group with manual commits. The raw side is `@platformatic/kafka` as documented:
 * `producer.send` with the same CloudEvents headers (`ce_`), and a group consumer's stream
 * committing each message after its handler (commits not awaited one by one, so they pipeline).
 */

export const PARTITIONS = 6;

export function kafkaBrokers(env: NodeJS.ProcessEnv = process.env): string {
  return env['CAUSEWAY_KAFKA_BROKERS'] ?? '127.0.0.1:9092';
}

const clientId = 'causeway-bench';

export async function kafkaSettings(brokers: string): Promise<Record<string, string>> {
  const admin = new Admin({ clientId, bootstrapBrokers: [brokers], retries: 0 });
  try {
    const metadata = await admin.metadata({ topics: [] });
    return {
      'kafka.cluster': `${metadata.brokers.size} broker(s) at ${brokers}`,
      'kafka.topology': `per side: topics of ${PARTITIONS} partitions, the broker's replication factor; idempotent producer, acks=all; one consumer group with manual commits`,
    };
  } finally {
    await admin.close();
  }
}

export function kafkaBaseline(brokers: string): TransportEntrant {
  return {
    label: '@platformatic/kafka producer (acks=all, idempotent)',
    open: async () => {
      const prefix = uniqueName('bench-raw');
      const topics = { publish: `${prefix}.publish`, e2e: `${prefix}.e2e` };
      const base = { clientId, bootstrapBrokers: [brokers] };
      const admin = new Admin(base);
      await admin.createTopics({
        topics: [topics.publish, topics.e2e],
        partitions: PARTITIONS,
        replicas: -1,
      });
      const producer = new Producer<string, string, string, string>({
        ...base,
        serializers: stringSerializers,
        idempotent: true,
        acks: -1,
      });
      const consumer = new Consumer<string, string, string, string>({
        ...base,
        groupId: `${prefix}.bench`,
        deserializers: stringDeserializers,
        autocommit: false,
        highWaterMark: PREFETCH,
        maxWaitTime: 1_000,
      });
      const tally = new Tally();
      const stream: MessagesStream<string, string, string, string> = await consumer.consume({
        topics: [topics.e2e],
        mode: 'committed',
        fallbackMode: 'earliest',
        autocommit: false,
      });
      stream.on('data', (message) => {
        tally.receive(JSON.parse(message.value) as Payload);
        void Promise.resolve(message.commit()).catch(() => undefined);
      });
      stream.on('error', () => undefined);
      const send = async (topic: string, bodies: readonly Payload[]) => {
        await producer.send({
          messages: bodies.map((body) => ({
            topic,
            value: JSON.stringify(body),
            headers: { ...cloudEventHeaders('ce_'), 'content-type': 'application/json' },
          })),
        });
      };
      return {
        publishOne: (i) => send(topics.publish, [payload(i)]),
        publishBatch: (i, size) => send(topics.publish, payloads(i * BATCH_SIZE, size)),
        endToEnd: (count) => endToEndRound(tally, count, (bodies) => send(topics.e2e, bodies)),
        close: async () => {
          await stream.close().catch(() => undefined);
          await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
          await producer.close();
          await admin.deleteTopics({ topics: [topics.publish, topics.e2e] }).catch(() => undefined);
          await admin.close();
        },
      };
    },
  };
}

export const kafkaCauseway = (brokers: string): Promise<TransportEntrant> =>
  adapterEntrant<{ brokers: string; prefix: string; partitions: number }>(
    'kafka',
    'KafkaTransportDriver',
    (driver) => {
      const prefix = uniqueName('bench-cw');
      return causewayDeletingDestinations(() =>
        driver.connect({ brokers, prefix, partitions: PARTITIONS }),
      );
    },
  );
