import { ValidationError } from '../core/errors.js';
import type { StreamSink, StreamSource } from './ports.js';
import type { OutputRecord, StreamRecord } from './record.js';
import type { StreamRuntime } from './runtime.js';
import type { StateBackend } from './stores.js';
import { RedeliveryLog } from './sources/redelivery-log.js';

export interface StreamTaskOptions {
  runtime: StreamRuntime;
  /** Named as the topology's sources; each resumes after its committed position. */
  sources: readonly StreamSource[];
  /** Written after each commit, with the committed outputs for their name. */
  sinks?: readonly StreamSink[];
  /** Records processed between commits (default 100). */
  commitEvery?: number;
  /**
   * Live mode (`run`): the longest a processed record waits for its commit, so outputs are
   * not held back while the input trickles or pauses (default 100 ms).
   */
  commitIntervalMs?: number;
  /**
   * Live mode: how long a source that has nothing buffered may hold back the others' records
   * so several inputs still interleave by event time (default 20 ms). A source that stays
   * quiet that long is treated as idle until its next record, so a silent input costs this
   * once, not once per record of the busy one.
   */
  alignMs?: number;
  /** Record identities each redelivering source remembers (default 10 000). */
  redeliveryCapacity?: number;
}

/** One source as the task reads it: its iterator, the next record, and what is acknowledged. */
interface Lane {
  source: StreamSource;
  iterator: AsyncIterator<StreamRecord>;
  head: StreamRecord | undefined;
  /** A `next()` in flight: the task keeps at most one per source. */
  pending: Promise<void> | undefined;
  done: boolean;
  /** Quiet past `alignMs`: the other sources no longer wait for it. */
  idle: boolean;
  /** Position of the last record processed (or skipped as a redelivery). */
  read: string | undefined;
  acknowledged: string | undefined;
  redeliveries: RedeliveryLog | undefined;
}

/**
 * Pumps sources through a runtime: picks the source whose next record has the lowest event
 * time (so several inputs interleave as they happened, and joins see both sides in time
 * order), commits every `commitEvery` records, then writes the committed outputs to the
 * sinks and acknowledges the committed records to their sources. With a durable backend the
 * outputs are outbox rows of the commit: a crash between commit and sink write leaves them
 * there, and the next run delivers them first, same ids.
 */
export class StreamTask {
  readonly #sinks = new Map<string, StreamSink>();
  #sinceCommit = 0;

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
    await this.#deliverUndelivered();
    const lanes = this.#open(signal === undefined ? {} : { signal });
    await Promise.all(lanes.map((lane) => this.#request(lane)));
    let processed = 0;
    for (;;) {
      signal?.throwIfAborted();
      const lane = earliest(lanes);
      if (!lane) break;
      this.#process(lane);
      processed++;
      await this.#request(lane);
      if (this.#sinceCommit >= this.#commitEvery) await this.#commit(lanes);
    }
    await this.#commit(lanes);
    return processed;
  }

  /**
   * Live mode: processes records as they arrive until `signal` aborts, committing every
   * `commitEvery` records or once the oldest uncommitted record has waited `commitIntervalMs`.
   * On abort it stops taking records, commits what it processed, acknowledges it, then ends
   * the sources' reads; resolves with the number of records processed. A failing operator,
   * source or sink rejects (after the sources' reads ended), with nothing more committed.
   */
  async run(signal: AbortSignal): Promise<number> {
    await this.#deliverUndelivered();
    const reading = new AbortController();
    const lanes = this.#open({ signal: reading.signal, follow: true });
    const commitIntervalMs = this.options.commitIntervalMs ?? 100;
    const alignMs = this.options.alignMs ?? 20;
    let wake: (() => void) | undefined;
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    let failure: { error: unknown } | undefined;
    let processed = 0;
    let firstUncommittedAt = 0;
    const request = (lane: Lane) => {
      lane.pending = this.#request(lane).then(
        () => {
          lane.pending = undefined;
          wake?.();
        },
        (error: unknown) => {
          failure ??= { error };
          wake?.();
        },
      );
    };
    try {
      for (const lane of lanes) request(lane);
      while (!signal.aborted) {
        if (failure) throw failure.error;
        const ready = earliest(lanes);
        const holding = lanes.some((lane) => lane.pending && !lane.idle);
        if (ready && !holding) {
          this.#process(ready);
          processed++;
          if (this.#sinceCommit === 1) firstUncommittedAt = performance.now();
          request(ready);
          if (
            this.#sinceCommit >= this.#commitEvery ||
            performance.now() - firstUncommittedAt >= commitIntervalMs
          )
            await this.#commit(lanes);
          continue;
        }
        if (!ready && lanes.every((lane) => lane.done)) break;
        // Wait for a record, bounded by the commit deadline (outputs must not wait on input)
        // and, when a busy source is held back for a quiet one, by the alignment allowance.
        const deadlines: number[] = [];
        if (this.#sinceCommit > 0) deadlines.push(firstUncommittedAt + commitIntervalMs);
        const waitedFrom = performance.now();
        if (ready) deadlines.push(waitedFrom + alignMs);
        const timeout =
          deadlines.length > 0 ? Math.max(0, Math.min(...deadlines) - waitedFrom) : -1;
        await new Promise<void>((resolve) => {
          const timer = timeout >= 0 ? setTimeout(resolve, timeout) : undefined;
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        if (performance.now() - waitedFrom >= alignMs)
          for (const lane of lanes) if (lane.pending) lane.idle = true;
        if (
          this.#sinceCommit > 0 &&
          performance.now() - firstUncommittedAt >= commitIntervalMs &&
          !failure
        )
          await this.#commit(lanes);
      }
      if (failure) throw failure.error;
      await this.#commit(lanes);
      return processed;
    } finally {
      signal.removeEventListener('abort', onAbort);
      reading.abort();
      await Promise.all(lanes.map((lane) => lane.pending));
      await Promise.all(lanes.map((lane) => lane.iterator.return?.()));
    }
  }

  /** Outputs a previous run committed but died before delivering go out first, same ids. */
  async #deliverUndelivered(): Promise<void> {
    await this.#deliver((await this.options.runtime.backend.undelivered?.()) ?? []);
  }

  /** Writes outputs to their sinks, then lets a durable backend drop their outbox rows. */
  async #deliver(outputs: readonly OutputRecord[]): Promise<void> {
    if (outputs.length === 0) return;
    const bySink = new Map<string, OutputRecord[]>();
    for (const output of outputs) {
      if (!this.#sinks.has(output.sink)) continue;
      const list = bySink.get(output.sink) ?? [];
      list.push(output);
      bySink.set(output.sink, list);
    }
    for (const [name, records] of bySink)
      await (this.#sinks.get(name) as StreamSink).write(records);
    await this.options.runtime.backend.acknowledge?.(outputs.map((output) => output.id));
  }

  get #commitEvery(): number {
    return this.options.commitEvery ?? 100;
  }

  #open(read: { signal?: AbortSignal; follow?: boolean }): Lane[] {
    const { runtime, sources } = this.options;
    const committed = runtime.backend.committedPositions();
    return sources.map((source) => {
      const after = committed.get(source.name);
      return {
        source,
        iterator: source.read(after, read)[Symbol.asyncIterator](),
        head: undefined,
        pending: undefined,
        done: false,
        idle: false,
        read: after,
        acknowledged: after,
        redeliveries: source.redeliveryId
          ? redeliveryLog(runtime.backend, source.name, this.options.redeliveryCapacity)
          : undefined,
      };
    });
  }

  async #request(lane: Lane): Promise<void> {
    const result = await lane.iterator.next();
    if (result.done) lane.done = true;
    else {
      lane.head = result.value;
      lane.idle = false;
    }
  }

  /** Processes the lane's head, or skips it when it is a redelivery of a processed record. */
  #process(lane: Lane): void {
    const record = lane.head as StreamRecord;
    lane.head = undefined;
    const id = lane.source.redeliveryId?.(record);
    if (id === undefined || !lane.redeliveries?.seen(id)) {
      this.options.runtime.process(lane.source.name, record);
      if (id !== undefined) lane.redeliveries?.remember(id);
    }
    lane.read = record.position;
    this.#sinceCommit++;
  }

  async #commit(lanes: readonly Lane[]): Promise<void> {
    this.#sinceCommit = 0;
    const outputs = [...this.options.runtime.pending];
    await this.options.runtime.commit();
    await this.#deliver(outputs);
    for (const lane of lanes) {
      if (lane.read === undefined || lane.read === lane.acknowledged) continue;
      await lane.source.acknowledge?.(lane.read);
      lane.acknowledged = lane.read;
    }
  }
}

/**
 * One redelivery log per backend and source, however many tasks run over the backend: a
 * backend creates each store once (a durable one loads it from its committed rows then).
 */
const redeliveryLogs = new WeakMap<StateBackend, Map<string, RedeliveryLog>>();

function redeliveryLog(
  backend: StateBackend,
  source: string,
  capacity: number | undefined,
): RedeliveryLog {
  let logs = redeliveryLogs.get(backend);
  if (!logs) redeliveryLogs.set(backend, (logs = new Map()));
  let log = logs.get(source);
  if (!log) logs.set(source, (log = new RedeliveryLog(backend, source, capacity)));
  return log;
}

/** The lane whose head has the lowest event time, or `undefined` when none holds a record. */
function earliest(lanes: readonly Lane[]): Lane | undefined {
  let pick: Lane | undefined;
  for (const lane of lanes) {
    if (lane.head && (!pick || lane.head.timestamp < (pick.head as StreamRecord).timestamp))
      pick = lane;
  }
  return pick;
}
