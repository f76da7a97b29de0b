import { describe, expect, it } from 'vitest';
import {
  DurableStateBackend,
  MemoryStateRepository,
  MemoryStreamSink,
  MemoryStreamSource,
  StreamRuntime,
  StreamTask,
  TopologyBuilder,
  type OutputRecord,
} from 'causeway';

function counts() {
  const builder = new TopologyBuilder({ name: 'counts', deadLetters: 'late' });
  builder.stream<number>('numbers').groupByKey().count('counts').toStream().to('out');
  return builder.build();
}

describe('StreamTask on a durable backend', () => {
  it('delivers outputs a crashed run committed but never wrote, first and with the same ids', async () => {
    const repository = new MemoryStateRepository();
    const source = new MemoryStreamSource<string, number>('numbers');
    for (let i = 0; i < 5; i++) source.push(`k${i % 2}`, i, 1_000 + i);

    // The sink fails after the commit: the process "dies" with the outputs only in the outbox.
    const broken = {
      name: 'out',
      write: (_: readonly OutputRecord[]): Promise<void> => Promise.reject(new Error('sink down')),
    };
    const first = await DurableStateBackend.open({ repository, scope: 'counts' });
    const crashed = new StreamTask({
      runtime: new StreamRuntime(counts(), { backend: first! }),
      sources: [source],
      sinks: [broken],
    });
    await expect(crashed.runToEnd()).rejects.toThrow('sink down');
    expect(repository.rowCount('counts').outbox).toBe(5);

    const sink = new MemoryStreamSink('out');
    const second = await DurableStateBackend.open({ repository, scope: 'counts' });
    const task = new StreamTask({
      runtime: new StreamRuntime(counts(), { backend: second! }),
      sources: [source],
      sinks: [sink],
    });
    expect(await task.runToEnd()).toBe(0);
    expect(sink.records.map((r) => [r.key, r.value])).toEqual([
      ['k0', 1],
      ['k1', 1],
      ['k0', 2],
      ['k1', 2],
      ['k0', 3],
    ]);
    expect(repository.rowCount('counts').outbox).toBe(0);
  });
});
