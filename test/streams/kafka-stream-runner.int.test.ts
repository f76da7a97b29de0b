import { afterAll, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { createTransport, MemoryStateBackend, MemoryStreamSink } from 'causeway';
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
import { spawnFixture } from '../adapters/fixtures/spawn-runner.js';
import { clicksPerUser, countsByKey, oneToN } from './fixtures/clicks.js';

const prefix = freshPrefix();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await deleteDestinations(prefix, ['clicks', 'taps']);
});

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

  const topology = clicksPerUser();
  // The in-memory backends stand in for durable ones: one per partition, outliving the
  // process that ran it, as a database would.
  const backends = new Map<number, MemoryStateBackend>();
  const sink = new MemoryStreamSink('counts');
  const failures: unknown[] = [];
  const released = new Set<number>();
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
    release: (partition, backend) => {
      expect(backend).toBe(backends.get(partition));
      released.add(partition);
    },
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
  // The partitions it gave up at the split, then the rest when it stopped.
  expect(released).toEqual(new Set([0, 1, 2]));
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

it('two processes sharing the partitions produce the counts one process would', async () => {
  const driver = await KafkaTransportDriver.connect(kafkaSettings(prefix));
  const transport = createTransport(driver);
  cleanups.push(() => transport.close());
  await driver.publishRaw('taps', []); // creates the topic before anyone joins its group
  const group = `${prefix}.two-processes`;
  const script = fileURLToPath(new URL('./fixtures/kafka-stream-process.ts', import.meta.url));

  interface Output {
    key: string;
    value: number;
    process: string;
  }
  const outputs: Output[] = [];
  const owned = new Map<string, number[]>();
  const start = (name: string) => {
    const child = spawnFixture(script, [prefix, 'taps', group]);
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await child.exited;
    });
    child.lines.on('line', (line) => {
      const parsed = JSON.parse(line) as { partitions?: number[]; key?: string; value?: number };
      if (parsed.partitions) owned.set(name, parsed.partitions);
      else outputs.push({ key: parsed.key!, value: parsed.value!, process: name });
    });
    return child;
  };
  const wait = (condition: () => boolean, what: string) =>
    eventually(condition, { timeoutMs: 45_000, what });

  const a = start('a');
  await wait(() => owned.get('a')?.length === 3, `a owns every partition (${a.stderr()})`);
  const b = start('b');
  // Each process reports its partitions on its own stdout after its side of the rebalance, so
  // b's report can arrive before a's report that it gave one up: wait until both have settled
  // (the shares add up to the 3 partitions), then check they do not overlap.
  await wait(() => {
    const [ofA, ofB] = [owned.get('a')?.length ?? 0, owned.get('b')?.length ?? 0];
    return ofA > 0 && ofB > 0 && ofA + ofB === 3;
  }, 'a and b share the partitions');
  const shares = [...owned.get('a')!, ...owned.get('b')!].sort();
  expect(shares).toEqual([0, 1, 2]);

  const published = new Map<string, number>();
  const messages = Array.from({ length: 90 }, (_, i) => {
    // 30 users: the keys land on every partition, so both processes have work.
    const user = `u${i % 30}`;
    published.set(user, (published.get(user) ?? 0) + 1);
    return { type: 'Clicked', data: {}, partitionkey: user };
  });
  await transport.publish('taps', messages);
  await wait(() => {
    const counts = countsByKey(outputs);
    return [...published].every(([user, n]) => counts.get(user)?.at(-1) === n);
  }, 'every user counted');

  // What one process would produce: each user's counts run 1..n, and each user was counted
  // by exactly one process (the owner of its partition).
  for (const [user, counts] of countsByKey(outputs))
    expect(counts, user).toEqual(oneToN(published.get(user)!));
  const by = new Set(outputs.map((o) => o.process));
  expect(by).toEqual(new Set(['a', 'b']));
  for (const user of published.keys())
    expect(new Set(outputs.filter((o) => o.key === user).map((o) => o.process)).size).toBe(1);

  for (const child of [a, b]) child.kill('SIGTERM');
  await Promise.all([a.exited, b.exited]);
});
