import { expect, it } from 'vitest';
import {
  createTransport,
  MemoryStateBackend,
  MemoryStreamSink,
  MemoryStreamSource,
  MemoryTransportDriver,
  StreamRuntime,
  StreamTask,
  TopologyBuilder,
  TransportSource,
  type CommitUnit,
  type OutputRecord,
  type StreamRecord,
} from 'causeway';
import { eventually } from 'causeway/testing';

function countTopology(source: string) {
  const b = new TopologyBuilder({ name: `live-${source}`, deadLetters: 'late' });
  b.stream<unknown, string>(source).groupByKey().count('counts').toStream().to('counts');
  return b.build();
}

/** The latest count per key among the outputs, as a plain object. */
const latest = (records: readonly OutputRecord[]) =>
  Object.fromEntries(records.map((r) => [r.key as string, r.value as number]));

it('run() processes records as they arrive and commits when the input pauses, not only every N', async () => {
  const source = new MemoryStreamSource<string, string>('clicks');
  const sink = new MemoryStreamSink('counts');
  const backend = new MemoryStateBackend();
  const runtime = new StreamRuntime(countTopology('clicks'), { backend });
  // commitEvery far above the input: only the interval can release these outputs.
  const task = new StreamTask({ runtime, sources: [source], sinks: [sink], commitEvery: 1_000 });
  const stop = new AbortController();
  const running = task.run(stop.signal);

  source.push('a', 'x', 1);
  source.push('b', 'x', 2);
  source.push('a', 'x', 3);
  await eventually(() => sink.records.length === 3, { what: 'first outputs committed' });
  expect(latest(sink.records)).toEqual({ a: 2, b: 1 });
  expect(backend.committedPositions().get('clicks')).toBe('clicks:2');

  source.push('b', 'x', 4);
  await eventually(() => sink.records.length === 4, { what: 'output after a pause' });
  expect(latest(sink.records)).toEqual({ a: 2, b: 2 });

  stop.abort();
  expect(await running).toBe(4);
  expect(backend.committedPositions().get('clicks')).toBe('clicks:3');

  // runToEnd still works on the same task and resumes after the committed position.
  source.push('a', 'x', 5);
  expect(await task.runToEnd()).toBe(1);
  expect(latest(sink.records)).toEqual({ a: 3, b: 2 });
});

it('on abort the records processed since the last commit are committed before run() resolves', async () => {
  const source = new MemoryStreamSource<string, string>('clicks');
  const sink = new MemoryStreamSink('counts');
  const backend = new MemoryStateBackend();
  const runtime = new StreamRuntime(countTopology('clicks'), { backend });
  // Neither the count nor the interval can commit during the test: only the final commit can.
  const task = new StreamTask({
    runtime,
    sources: [source],
    sinks: [sink],
    commitEvery: 1_000,
    commitIntervalMs: 60_000,
  });
  const stop = new AbortController();
  const running = task.run(stop.signal);
  for (let i = 0; i < 10; i++) source.push(`k${i % 3}`, 'x', i);
  await eventually(() => runtime.metrics.recordsIn === 10, { what: 'all records processed' });
  expect(sink.records).toEqual([]);
  stop.abort();
  expect(await running).toBe(10);
  expect(latest(sink.records)).toEqual({ k0: 4, k1: 3, k2: 3 });
  expect(backend.committedPositions().get('clicks')).toBe('clicks:9');
});

it('run() still interleaves two live sources by event time when both have records', async () => {
  const b = new TopologyBuilder({ name: 'merge', deadLetters: 'late' });
  b.stream<string, string>('left').merge(b.stream<string, string>('right')).to('merged');
  const left = new MemoryStreamSource<string, string>('left');
  const right = new MemoryStreamSource<string, string>('right');
  const sink = new MemoryStreamSink('merged');
  const task = new StreamTask({
    runtime: new StreamRuntime(b.build()),
    sources: [left, right],
    sinks: [sink],
  });
  for (const t of [1, 4, 5]) left.push('k', `L${t}`, t);
  for (const t of [2, 3, 6]) right.push('k', `R${t}`, t);
  const stop = new AbortController();
  const running = task.run(stop.signal);
  await eventually(() => sink.records.length === 6, { what: 'merged outputs' });
  stop.abort();
  await running;
  expect(sink.records.map((r) => r.value)).toEqual(['L1', 'R2', 'R3', 'L4', 'L5', 'R6']);
});

it('a failing operator rejects run() and ends the sources, with nothing after the last commit', async () => {
  const b = new TopologyBuilder({ name: 'failing-live', deadLetters: 'late' });
  b.stream<number>('numbers')
    .map((n) => {
      if (n === 3) throw new Error('boom');
      return n;
    })
    .to('out');
  const source = new MemoryStreamSource<null, number>('numbers');
  const sink = new MemoryStreamSink('out');
  const backend = new MemoryStateBackend();
  const task = new StreamTask({
    runtime: new StreamRuntime(b.build(), { backend }),
    sources: [source],
    sinks: [sink],
    commitEvery: 2,
  });
  for (let n = 1; n <= 4; n++) source.push(null, n, n);
  await expect(task.run(new AbortController().signal)).rejects.toMatchObject({
    code: 'HANDLER_FAILED',
    position: 'numbers:2',
  });
  expect(sink.records.map((r) => r.value)).toEqual([1, 2]);
  expect(backend.committedPositions().get('numbers')).toBe('numbers:1');
});

/** Wraps a source so the process can "die" between a commit and its acknowledgement. */
function dyingAtAcknowledge(source: TransportSource) {
  let armed = false;
  const wrapper = {
    name: source.name,
    read: source.read.bind(source),
    redeliveryId: (record: StreamRecord) => source.redeliveryId(record),
    async acknowledge(position: string) {
      if (armed) throw new Error('killed between commit and acknowledgement');
      await source.acknowledge(position);
    },
    arm: () => (armed = true),
  };
  return wrapper;
}

it('a transport source acknowledges after the commit, and a redelivery after a lost acknowledgement is not counted twice', async () => {
  const driver = new MemoryTransportDriver();
  const transport = createTransport(driver);
  const backend = new MemoryStateBackend();
  const topology = countTopology('clicks');
  const sink = new MemoryStreamSink('counts');
  const publish = (keys: string[]) =>
    transport.publish(
      'clicks',
      keys.map((key) => ({ type: 'Clicked', data: 'x', partitionkey: key })),
    );

  const first = dyingAtAcknowledge(
    new TransportSource({ name: 'clicks', driver, destination: 'clicks', group: 'counter' }),
  );
  first.arm();
  const task = new StreamTask({
    runtime: new StreamRuntime(topology, { backend }),
    sources: [first],
    sinks: [sink],
    commitEvery: 4,
  });
  await publish(['a', 'b', 'a', 'a']);
  // The commit holds all four; the acknowledgement fails, so the broker gets them back.
  await expect(task.run(new AbortController().signal)).rejects.toThrow(/killed/);
  expect(latest(sink.records)).toEqual({ a: 3, b: 1 });

  const second = new TransportSource({
    name: 'clicks',
    driver,
    destination: 'clicks',
    group: 'counter',
  });
  const again = new StreamTask({
    runtime: new StreamRuntime(topology, { backend }),
    sources: [second],
    sinks: [sink],
    commitEvery: 4,
  });
  const stop = new AbortController();
  const running = again.run(stop.signal);
  await publish(['b']);
  await eventually(() => latest(sink.records)['b'] === 2, { what: 'the new message counted' });
  stop.abort();
  // 4 redelivered (skipped) + 1 new; the counts saw only the new one.
  expect(await running).toBe(5);
  expect(latest(sink.records)).toEqual({ a: 3, b: 2 });

  // Everything was acknowledged: a third reader of the group receives nothing.
  const third = new StreamTask({
    runtime: new StreamRuntime(topology, { backend }),
    sources: [
      new TransportSource({ name: 'clicks', driver, destination: 'clicks', group: 'counter' }),
    ],
    sinks: [sink],
  });
  const quiet = new AbortController();
  const idle = third.run(quiet.signal);
  await publish(['c']);
  await eventually(() => latest(sink.records)['c'] === 1, { what: 'only the new message' });
  quiet.abort();
  expect(await idle).toBe(1);
  await transport.close();
});

/** The in-memory backend with an outbox, as durable backends keep one: outputs stay until a sink has them. */
class OutboxBackend extends MemoryStateBackend {
  readonly outbox = new Map<string, OutputRecord>();
  override commit(unit: CommitUnit): void {
    super.commit(unit);
    for (const output of unit.outputs) this.outbox.set(output.id, output);
  }
  async undelivered(): Promise<readonly OutputRecord[]> {
    return [...this.outbox.values()];
  }
  async acknowledge(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.outbox.delete(id);
  }
}

it('outputs committed but not written when the sink failed are delivered first by the next run', async () => {
  const source = new MemoryStreamSource<string, string>('clicks');
  const backend = new OutboxBackend();
  const topology = countTopology('clicks');
  const broken = {
    name: 'counts',
    write: () => Promise.reject(new Error('killed before the sink write')),
  };
  source.push('a', 'x', 1);
  source.push('b', 'x', 2);
  const dying = new StreamTask({
    runtime: new StreamRuntime(topology, { backend }),
    sources: [source],
    sinks: [broken],
  });
  await expect(dying.runToEnd()).rejects.toThrow(/killed/);
  expect(backend.outbox.size).toBe(2);

  const sink = new MemoryStreamSink('counts');
  const restarted = new StreamTask({
    runtime: new StreamRuntime(topology, { backend }),
    sources: [source],
    sinks: [sink],
  });
  const stop = new AbortController();
  const running = restarted.run(stop.signal);
  // Delivered before any record is read: nothing new was pushed.
  await eventually(() => sink.records.length === 2, { what: 'the undelivered outputs' });
  expect(latest(sink.records)).toEqual({ a: 1, b: 1 });
  expect(backend.outbox.size).toBe(0);
  stop.abort();
  expect(await running).toBe(0);
});

it('tasks over one backend share its redelivery log: a durable backend creates each store once', async () => {
  // As DurableStateBackend does: a store is created (and loaded) once per backend.
  class OnceBackend extends MemoryStateBackend {
    readonly #created = new Set<string>();
    override keyValueStore<K, V>(name: string) {
      if (this.#created.has(name)) throw new Error(`store ${name} created twice`);
      this.#created.add(name);
      return super.keyValueStore<K, V>(name);
    }
  }
  const backend = new OnceBackend();
  const runtime = new StreamRuntime(countTopology('clicks'), { backend });
  // Message-like identities: the same id delivered twice is counted once.
  const source = Object.assign(new MemoryStreamSource<string, string>('clicks'), {
    redeliveryId: (record: StreamRecord) => String(record.value),
  });
  const sink = new MemoryStreamSink('counts');
  source.push('a', 'm1', 1);
  expect(await new StreamTask({ runtime, sources: [source], sinks: [sink] }).runToEnd()).toBe(1);
  source.push('a', 'm1', 2); // a redelivery of m1
  source.push('a', 'm2', 3);
  expect(await new StreamTask({ runtime, sources: [source], sinks: [sink] }).runToEnd()).toBe(2);
  expect(latest(sink.records)).toEqual({ a: 2 });
});
