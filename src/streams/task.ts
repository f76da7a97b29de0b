import { ValidationError } from '../core/errors.js';
import type { StreamSink, StreamSource } from './ports.js';
import type { OutputRecord, StreamRecord } from './record.js';
import type { StreamRuntime } from './runtime.js';

export interface StreamTaskOptions {
  runtime: StreamRuntime;
  /** Named as the topology's sources; each resumes after its committed position. */
  sources: readonly StreamSource[];
  /** Written after each commit, with the committed outputs for their name. */
  sinks?: readonly StreamSink[];
  /** Records processed between commits (default 100). */
  commitEvery?: number;
}

/**
 * Pumps sources through a runtime: picks the source whose next record has the lowest event
 * time (so several inputs interleave as they happened, and joins see both sides in time
 * order), commits every `commitEvery` records, then writes the committed outputs to the
 * sinks. A crash between commit and sink write re-produces those outputs with the same ids.
 */
export class StreamTask {
  readonly #sinks = new Map<string, StreamSink>();

  constructor(private readonly options: StreamTaskOptions) {
    const topology = options.runtime.topology;
    for (const source of options.sources) {
      if (!topology.sources.has(source.name)) {
        throw new ValidationError('Unknown source', [
          {
            path: ['sources', source.name],
            message: `topology "${topology.name}" reads no such source`,
          },
        ]);
      }
    }
    for (const sink of options.sinks ?? []) {
      if (!topology.sinks.has(sink.name)) {
        throw new ValidationError('Unknown sink', [
          {
            path: ['sinks', sink.name],
            message: `topology "${topology.name}" writes no such sink`,
          },
        ]);
      }
      this.#sinks.set(sink.name, sink);
    }
  }

  /** Processes every record the sources hold now, then commits; returns how many it processed. */
  async runToEnd(signal?: AbortSignal): Promise<number> {
    const { runtime, sources } = this.options;
    const commitEvery = this.options.commitEvery ?? 100;
    const committed = runtime.backend.committedPositions();
    const readers = sources.map((source) =>
      source.read(committed.get(source.name), signal)[Symbol.asyncIterator](),
    );
    const heads: (StreamRecord | undefined)[] = await Promise.all(readers.map(next));
    let processed = 0;
    for (;;) {
      signal?.throwIfAborted();
      let pick = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i];
        if (head && (pick < 0 || head.timestamp < (heads[pick] as StreamRecord).timestamp))
          pick = i;
      }
      if (pick < 0) break;
      runtime.process((sources[pick] as StreamSource).name, heads[pick] as StreamRecord);
      heads[pick] = await next(readers[pick] as AsyncIterator<StreamRecord>);
      if (++processed % commitEvery === 0) await this.#commit();
    }
    await this.#commit();
    return processed;
  }

  async #commit(): Promise<void> {
    const outputs = [...this.options.runtime.pending];
    await this.options.runtime.commit();
    const bySink = new Map<string, OutputRecord[]>();
    for (const output of outputs) {
      if (!this.#sinks.has(output.sink)) continue;
      const list = bySink.get(output.sink) ?? [];
      list.push(output);
      bySink.set(output.sink, list);
    }
    for (const [name, records] of bySink)
      await (this.#sinks.get(name) as StreamSink).write(records);
  }
}

async function next(iterator: AsyncIterator<StreamRecord>): Promise<StreamRecord | undefined> {
  const result = await iterator.next();
  return result.done ? undefined : result.value;
}
