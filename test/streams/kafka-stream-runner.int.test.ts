import { afterAll, expect, it } from 'vitest';
import {
  createTransport,
  MemoryStateBackend,
  MemoryStreamSink,
  TopologyBuilder,
  type OutputRecord,
} from 'causeway';
import {
  KafkaNames,
  KafkaStreamRunner,
  KafkaTransportDriver,
  type KafkaStreamRunnerOptions,
} from 'causeway/kafka';
import { eventually } from 'causeway/testing';
import {
  brokers,
  deleteDestinations,
  freshPrefix,
  kafkaSettings,
} from '../adapters/fixtures/kafka-transport-harness.js';

const prefix = freshPrefix();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await deleteDestinations(prefix, ['clicks']);
});

/** Every count a key went through, in order: exactly 1..n when each record counted once. */
function countsByKey(records: readonly OutputRecord[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const record of records) {
    const key = record.key as string;
    out.set(key, [...(out.get(key) ?? []), record.value as number]);
  }
  return out;
}

const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

it('splits a topic by partition across processes in the group; a moved partition resumes from its committed state', async () => {
  const settings = kafkaSettings(prefix);
  const driver = await KafkaTransportDriver.connect(settings);
  const transport = createTransport(driver);
  cleanups.push(() => transport.close());
  const published = new Map<string, number>();
  const publish = async (count: number) => {
    const messages = Array.from({ length: count }, (_, i) => {
      const user = `u${i % 10}`;
      published.set(user, (published.get(user) ?? 0) + 1);
      return { type: 'Clicked', data: {}, partitionkey: user };
    });
    await transport.publish('clicks', messages);
  };

  const b = new TopologyBuilder({ name: 'clicks-per-user', deadLetters: 'late' });
  b.stream<unknown, string>('clicks').groupByKey().count('per-user').toStream().to('counts');
  const topology = b.build();
  // The in-memory backends stand in for durable ones: one per partition, outliving the
  // process that ran it, as a database would.
  const backends = new Map<number, MemoryStateBackend>();
  const sink = new MemoryStreamSink('counts');
  const failures: unknown[] = [];
  const options: KafkaStreamRunnerOptions = {
    brokers: brokers.split(','),
    topic: new KafkaNames(prefix).topic('clicks'),
    groupId: `${prefix}.clicks-per-user`,
    topology,
    source: 'clicks',
    backend: (partition) => {
      let backend = backends.get(partition);
      if (!backend) backends.set(partition, (backend = new MemoryStateBackend()));
      return backend;
    },
    sinks: () => [sink],
    commitEvery: 10,
    sessionTimeoutMs: settings.sessionTimeoutMs!,
    heartbeatIntervalMs: settings.heartbeatIntervalMs!,
    rebalanceTimeoutMs: settings.rebalanceTimeoutMs!,
    maxWaitMs: settings.maxWaitMs!,
    // Kafka refuses offset commits during a rebalance (the state holds the position anyway);
    // anything else reported would be a failed task.
    onError: (error) => {
      if (!/commit|rebalanc|generation|member/i.test(String(error))) failures.push(error);
    },
  };
  const counted = (what: string) =>
    eventually(
      () => {
        const counts = countsByKey(sink.records);
        return [...published].every(([user, n]) => counts.get(user)?.at(-1) === n);
      },
      { timeoutMs: 30_000, what },
    );

  await publish(60);
  const first = await KafkaStreamRunner.start(options);
  cleanups.push(() => first.stop());
  await counted('one process counts every partition');
  expect(first.partitions).toEqual(new Set([0, 1, 2]));

  const second = await KafkaStreamRunner.start(options);
  cleanups.push(() => second.stop());
  await eventually(() => first.partitions.size > 0 && second.partitions.size > 0, {
    timeoutMs: 30_000,
    what: 'the partitions split between two processes',
  });
  expect(first.partitions.size + second.partitions.size).toBe(3);
  expect([...first.partitions].some((p) => second.partitions.has(p))).toBe(false);
  await publish(60);
  await counted('two processes count their partitions');

  await first.stop();
  await eventually(() => second.partitions.size === 3, {
    timeoutMs: 30_000,
    what: 'the stopped process’s partitions move to the other',
  });
  await publish(60);
  await counted('the remaining process resumes the moved partitions');
  await second.stop();

  // A new group has no Kafka offsets, so its fetch starts at the beginning of each
  // partition: only the positions committed with the state keep it from counting again.
  const fresh = await KafkaStreamRunner.start({ ...options, groupId: `${prefix}.fresh-group` });
  cleanups.push(() => fresh.stop());
  await publish(30);
  await counted('a process with no Kafka offsets resumes from the state');

  // Each record counted exactly once: every key's counts run 1..n without repeats or gaps,
  // across both moves of its partition.
  for (const [user, counts] of countsByKey(sink.records))
    expect(counts, user).toEqual(oneToN(published.get(user)!));
  expect(failures).toEqual([]);
});
