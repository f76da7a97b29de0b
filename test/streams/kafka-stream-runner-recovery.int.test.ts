import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import {
  createTransport,
  MemoryStateBackend,
  MemoryStreamSink,
  type OutputRecord,
  type StreamSink,
  type Transport,
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
import { clicksPerUser, countsByKey, oneToN } from './fixtures/clicks.js';

const prefix = freshPrefix();
const topics: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await deleteDestinations(prefix, topics);
});

/** Per-partition state that outlives the tasks over it, as a durable backend's would. */
function lasting(): (partition: number) => MemoryStateBackend {
  const backends = new Map<number, MemoryStateBackend>();
  return (partition) => {
    let backend = backends.get(partition);
    if (!backend) backends.set(partition, (backend = new MemoryStateBackend()));
    return backend;
  };
}

/** A fresh topic (created before any group joins it) and a publisher counting per user. */
async function fixture(name: string) {
  topics.push(name);
  const settings = kafkaSettings(prefix);
  const driver = await KafkaTransportDriver.connect(settings);
  const transport: Transport = createTransport(driver);
  cleanups.push(() => transport.close());
  await driver.publishRaw(name, []);
  const published = new Map<string, number>();
  const publish = async (count: number) => {
    const messages = Array.from({ length: count }, (_, i) => {
      // 30 users: every partition gets keys.
      const user = `u${i % 30}`;
      published.set(user, (published.get(user) ?? 0) + 1);
      return { type: 'Clicked', data: {}, partitionkey: user };
    });
    await transport.publish(name, messages);
  };
  const errors: { error: unknown; partition: number | undefined }[] = [];
  const options = (group: string, sink: MemoryStreamSink): KafkaStreamRunnerOptions => ({
    brokers: brokers.split(','),
    topic: new KafkaNames(prefix).topic(name),
    groupId: `${prefix}.${group}`,
    topology: clicksPerUser(),
    source: 'clicks',
    backend: () => new MemoryStateBackend(),
    sinks: () => [sink],
    commitEvery: 5,
    restartDelayMs: { min: 50, max: 1_000 },
    sessionTimeoutMs: settings.sessionTimeoutMs!,
    heartbeatIntervalMs: settings.heartbeatIntervalMs!,
    rebalanceTimeoutMs: settings.rebalanceTimeoutMs!,
    maxWaitMs: settings.maxWaitMs!,
    onError: (error, partition) => {
      if (!/commit|rebalanc|generation|member/i.test(String(error)))
        errors.push({ error, partition });
    },
  });
  const start = async (runnerOptions: KafkaStreamRunnerOptions) => {
    const runner = await KafkaStreamRunner.start(runnerOptions);
    cleanups.push(() => runner.stop());
    return runner;
  };
  const counted = (records: () => readonly OutputRecord[], what: string) =>
    eventually(
      () => {
        const counts = countsByKey(records());
        return [...published].every(([user, n]) => counts.get(user)?.at(-1) === n);
      },
      { timeoutMs: 30_000, what },
    );
  return { publish, published, errors, options, start, counted };
}

it('a partition whose task failed restarts on its own and the others never stall', async () => {
  const { publish, published, errors, options, start, counted } = await fixture('fails');
  const sink = new MemoryStreamSink('counts');
  // Partition 2's sink throws once: after its first commit, so that task fails.
  const flaky = new MemoryStreamSink('counts');
  let thrown = false;
  const failing: StreamSink = {
    name: 'counts',
    write: async (records) => {
      if (!thrown) {
        thrown = true;
        throw new Error('sink unavailable');
      }
      await flaky.write(records);
    },
  };
  const partitionsSeen: number[][] = [];
  const runner = await start({
    ...options('fails', sink),
    // Each partition's state outlives its task, as a durable one would: the restart resumes it.
    backend: lasting(),
    sinks: (partition) => [partition === 2 ? failing : sink],
    // A small fetch buffer: a dead task's unacknowledged records would fill it at once and
    // pause the fetch of every partition.
    buffer: 10,
    onPartitions: (partitions) => partitionsSeen.push([...partitions].sort()),
  });
  await publish(90);
  await eventually(() => thrown, { timeoutMs: 30_000, what: "partition 2's sink write fails" });
  await publish(90);
  await counted(() => [...sink.records, ...flaky.records], 'every user counted');

  expect(runner.partitions).toEqual(new Set([0, 1, 2]));
  // Reported once, with its partition; it dropped out of the running set, then came back.
  expect(errors.map((e) => [String(e.error), e.partition])).toEqual([
    ['Error: sink unavailable', 2],
  ]);
  expect(partitionsSeen).toContainEqual([0, 1]);
  expect(partitionsSeen.at(-1)).toEqual([0, 1, 2]);
  // Partitions 0 and 1 counted every record exactly once; partition 2 lost the outputs of
  // the commit whose sink write failed (an in-memory state keeps no outbox), not its counts.
  const onTwo = new Set(flaky.records.map((r) => r.key as string));
  expect(onTwo.size).toBeGreaterThan(0);
  for (const [user, counts] of countsByKey(sink.records)) {
    expect(onTwo.has(user), user).toBe(false);
    expect(counts, user).toEqual(oneToN(published.get(user)!));
  }
  for (const [user, counts] of countsByKey(flaky.records))
    expect(counts.at(-1), user).toBe(published.get(user));
});

it('a partition whose backend cannot be opened is retried, and the other partitions start', async () => {
  const { publish, published, errors, options, start, counted } = await fixture('backend');
  const sink = new MemoryStreamSink('counts');
  let opened = 0;
  const partitionsSeen: number[][] = [];
  const runner = await start({
    ...options('backend', sink),
    // The first partition the runner opens fails: the others come after it in the same change.
    backend: () => {
      if (opened++ === 0) throw new Error('state database unreachable');
      return new MemoryStateBackend();
    },
    onPartitions: (partitions) => partitionsSeen.push([...partitions].sort()),
  });
  await publish(90);
  await counted(() => sink.records, 'every user counted');

  expect(runner.partitions).toEqual(new Set([0, 1, 2]));
  expect(errors).toHaveLength(1);
  expect(String(errors[0]!.error)).toBe('Error: state database unreachable');
  // The first settled assignment already ran the two partitions that could start.
  expect(partitionsSeen[0]).toHaveLength(2);
  expect(partitionsSeen.at(-1)).toEqual([0, 1, 2]);
  for (const [user, counts] of countsByKey(sink.records))
    expect(counts, user).toEqual(oneToN(published.get(user)!));
});

it('a partition resumes at its state even when records arrive before its state is open', async () => {
  const { publish, published, options, start, counted } = await fixture('seek');
  // The state of every partition, as a durable store would keep it, and its outputs.
  const state = lasting();
  const sink = new MemoryStreamSink('counts');

  // 1. The state counts the first records (through another group).
  await publish(60);
  const first = await start({ ...options('seek-state', sink), backend: state });
  await counted(() => sink.records, 'the state counts the first records');
  await first.stop();

  // 2. More records, which the group below reads with throwaway state: its Kafka offsets end
  //    up past the state's position, as a group's offsets may after the state was restored
  //    from an older backup.
  await publish(60);
  const other = new MemoryStreamSink('counts');
  const ahead = await start({ ...options('seek', other) });
  await counted(() => other.records, 'the group reads everything with throwaway state');
  await ahead.stop();

  // 3. The same group over the real state: while the state opens, new records arrive (the
  //    fetch starts at the group's offsets, past the state). No event of the runner shows
  //    the fetch handed them over, so the state opens after several fetch waits.
  let published3 = false;
  const runner = await start({
    ...options('seek', sink),
    backend: async (partition) => {
      if (!published3) {
        published3 = true;
        await publish(60);
      }
      await delay(4 * options('seek', sink).maxWaitMs!);
      return state(partition);
    },
  });
  await counted(() => sink.records, 'the state counts every record after its position');
  expect(runner.partitions).toEqual(new Set([0, 1, 2]));
  // Every record counted exactly once: the records of step 2 too, which the group's offsets
  // had passed.
  for (const [user, counts] of countsByKey(sink.records))
    expect(counts, user).toEqual(oneToN(published.get(user)!));
});
