import {
  Consumer,
  stringDeserializers,
  type ConnectionOptions,
  type MessagesStream,
} from '@platformatic/kafka';
import type { Message } from '../../messaging/message.js';
import type { StreamSink } from '../../streams/ports.js';
import { StreamRuntime } from '../../streams/runtime.js';
import type { StateBackend } from '../../streams/stores.js';
import { StreamTask } from '../../streams/task.js';
import type { Topology } from '../../streams/topology.js';
import type { KafkaRecord } from './kafka-group-reader.js';
import { KafkaPartitionRestarts, type PendingRestart } from './kafka-partition-restarts.js';
import { KafkaPartitionSeeks } from './kafka-partition-seeks.js';
import { KafkaPartitionSource } from './kafka-partition-source.js';
import { closeNow } from './kafka-topology.js';

export interface KafkaStreamRunnerOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** The topic read; for a transport destination, `new KafkaNames(prefix).topic(destination)`. */
  topic: string;
  /** The consumer group: the processes running this topology share the topic's partitions through it. */
  groupId: string;
  /** The topology, and the name of its source the topic feeds. */
  topology: Topology;
  source: string;
  /**
   * The state of one partition: its stores, its committed position and outputs. A durable
   * backend opened here restores the partition's state when the partition moves to this
   * process; the in-memory one only lives as long as the process.
   */
  backend(partition: number): StateBackend | Promise<StateBackend>;
  /**
   * Called when a partition leaves this process, after its task's final commit, with the
   * backend `backend` gave for it: give a durable backend's lease up here, so the next owner
   * claims the partition's state at once.
   */
  release?(partition: number, backend: StateBackend): void | Promise<void>;
  /** The sinks of one partition's task (they may be shared by every partition). */
  sinks?(partition: number): readonly StreamSink[];
  /** Records between commits (default 100). */
  commitEvery?: number;
  /** The longest a processed record waits for its commit (default 100 ms). */
  commitIntervalMs?: number;
  /** The record's key; the message's `partitionkey`, then `subject`, then `null` by default. */
  key?: (message: Message) => unknown;
  /** The record's event time (epoch ms); the envelope's `time` by default. */
  timestamp?: (message: Message) => number;
  /** Records fetched ahead of the tasks, over all partitions (default 1 000). */
  buffer?: number;
  clientId?: string;
  connection?: Omit<ConnectionOptions, 'connectTimeout'>;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  maxWaitMs?: number;
  /**
   * A failed partition task (or a backend that could not be opened) is restarted after this
   * delay, doubled on each consecutive failure up to `max` (default 200 ms, up to 30 s).
   */
  restartDelayMs?: { min: number; max: number };
  /**
   * Failures the runner recovers from or reports only: a failed Kafka offset commit (the state
   * holds the position anyway), a record that is not a CloudEvent (skipped), a partition task
   * that failed or a backend that could not be opened (the partition restarts after
   * `restartDelayMs`; the other partitions run on). Default: a process warning.
   */
  onError?: (error: unknown, partition?: number) => void;
  /** Called with the partitions this process runs once an assignment change has settled. */
  onPartitions?: (partitions: ReadonlySet<number>) => void;
}

/** A partition's state while this process owns it: kept across the task restarts of rebalances. */
interface PartitionState {
  backend: StateBackend;
  runtime: StreamRuntime;
  /** Its task failed: the runtime refuses records, so the next start reopens the state. */
  failed: boolean;
}

interface PartitionTask {
  stop: AbortController;
  done: Promise<unknown>;
  startedAt: number;
}

/**
 * Runs a topology over a Kafka topic with its work split by partition through the consumer
 * group: one `StreamTask` per partition this process owns, each over the state backend of
 * that partition. On assignment a partition's task resumes from the position committed in
 * its backend (the fetch seeks there); when a rebalance starts, every task commits and stops
 * (Kafka's eager protocol revokes all partitions), and the join that ends it drops the
 * partitions that moved away and starts tasks for those this process owns. Kafka's group
 * offsets follow the state commits, only to shorten the re-read after a move; the state's
 * position is what counts.
 */
export class KafkaStreamRunner {
  readonly #consumer: Consumer<string, string, string, string>;
  /** The partitions assigned here: their records are buffered, never dropped. */
  readonly #sources = new Map<number, KafkaPartitionSource>();
  readonly #states = new Map<number, PartitionState>();
  readonly #tasks = new Map<number, PartitionTask>();
  /** Newly (re)started partitions whose fetch may not start at their state yet. */
  readonly #seeks: KafkaPartitionSeeks;
  /** Partitions dropped after a failure, waiting to restart after their backoff. */
  readonly #restarts: KafkaPartitionRestarts;
  #stream: MessagesStream<string, string, string, string> | undefined;
  /** Assignment changes, one after another: a partition starts only after its last owner here stopped. */
  #changes: Promise<void> = Promise.resolve();
  #buffered = 0;
  #paused = false;
  #stopped = false;

  private constructor(private readonly options: KafkaStreamRunnerOptions) {
    this.#restarts = new KafkaPartitionRestarts(options.restartDelayMs);
    this.#seeks = new KafkaPartitionSeeks(options.topic, () => this.#stream);
    this.#consumer = new Consumer({
      clientId: options.clientId ?? 'causeway-streams',
      bootstrapBrokers: options.brokers,
      ...options.connection,
      groupId: options.groupId,
      deserializers: stringDeserializers,
      autocommit: false,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
      rebalanceTimeout: options.rebalanceTimeoutMs ?? 60_000,
      maxWaitTime: options.maxWaitMs ?? 1_000,
      highWaterMark: options.buffer ?? 1_000,
    });
    this.#consumer.on('consumer:group:rebalance', () => void this.#change(() => this.#stopAll()));
    // Sources follow the assignment at once (the fetch for the new one starts right after
    // this event), tasks once the previous owners' final commits here are done.
    this.#consumer.on('consumer:group:join', () => {
      this.#follow();
      void this.#change(() => this.#assign());
    });
    this.#consumer.on('error', (error: unknown) => this.#report(error));
  }

  /** Joins the group and starts the tasks of the partitions it is given. */
  static async start(options: KafkaStreamRunnerOptions): Promise<KafkaStreamRunner> {
    const runner = new KafkaStreamRunner(options);
    await runner.#open();
    return runner;
  }

  /** The partitions this process runs tasks for now. */
  get partitions(): ReadonlySet<number> {
    return new Set(this.#tasks.keys());
  }

  /** A partition's runtime (metrics, stores), while this process owns the partition. */
  runtime(partition: number): StreamRuntime | undefined {
    return this.#tasks.has(partition) ? this.#states.get(partition)?.runtime : undefined;
  }

  /** Commits and stops every task, then leaves the group (the partitions move on at once). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#restarts.cancelAll();
    await this.#change(async () => {
      await this.#stopAll();
      for (const partition of [...this.#states.keys()]) await this.#release(partition);
    });
    for (const source of this.#sources.values()) source.close();
    this.#sources.clear();
    try {
      await this.#stream?.close();
    } finally {
      await closeNow(this.#consumer);
    }
  }

  async #open(): Promise<void> {
    const stream = await this.#consumer.consume({
      topics: [this.options.topic],
      mode: 'committed',
      fallbackMode: 'earliest',
      autocommit: false,
    });
    this.#stream = stream;
    stream.on('data', (record: KafkaRecord) => this.#route(record));
    stream.on('error', (error: Error) => this.#report(error));
    // The stream re-reads Kafka's group offsets after every join: seek again after it did.
    stream.on('offsets', () => this.#seeks.reapply());
    stream.on('fetch', () => this.#seeks.fetched());
    this.#follow();
    await this.#change(() => this.#assign());
  }

  #change(step: () => Promise<void>): Promise<void> {
    this.#changes = this.#changes.then(step).catch((error: unknown) => this.#report(error));
    return this.#changes;
  }

  #route(record: KafkaRecord): void {
    const source = this.#sources.get(record.partition);
    if (record.topic !== this.options.topic) return;
    if (!source) {
      // Waiting to restart, or no longer assigned here (its next owner reads it again).
      this.#restarts.fetched(record.partition, record.offset);
      return;
    }
    if (!this.#seeks.admits(record.partition, record.offset)) return;
    this.#buffered++;
    source.offer(record);
    this.#flow();
  }

  #owned(): Set<number> {
    return new Set(
      (this.#consumer.assignments ?? [])
        .filter((a) => a.topic === this.options.topic)
        .flatMap((a) => a.partitions),
    );
  }

  /** Creates a source per newly assigned partition and drops those of partitions gone. */
  #follow(): void {
    if (this.#stopped) return;
    const owned = this.#owned();
    for (const [partition, source] of this.#sources) {
      if (owned.has(partition)) continue;
      this.#sources.delete(partition);
      this.#seeks.forget(partition);
      source.close();
    }
    for (const partition of owned) {
      if (this.#sources.has(partition)) continue;
      this.#sources.set(partition, this.#source(partition));
      this.#seeks.expect(partition);
      // A restart pending from the previous assignment is superseded by `#assign`.
      this.#restarts.assigned(partition);
    }
  }

  #flow(): void {
    const full = this.#buffered >= (this.options.buffer ?? 1_000);
    if (full === this.#paused) return;
    this.#paused = full;
    if (full) this.#stream?.pause();
    else this.#stream?.resume();
  }

  async #assign(): Promise<void> {
    if (this.#stopped) return;
    for (const partition of [...this.#tasks.keys()])
      if (!this.#sources.has(partition)) await this.#stopTask(partition);
    for (const partition of [...this.#states.keys()])
      if (!this.#sources.has(partition)) await this.#release(partition);
    for (const [partition, source] of this.#sources) {
      if (this.#tasks.has(partition)) continue;
      // One partition that cannot start must not keep the others from starting.
      try {
        await this.#startTask(partition, source);
      } catch (error) {
        await this.#fail(partition, error, 0);
      }
    }
    this.options.onPartitions?.(this.partitions);
  }

  /**
   * A partition's task failed, or it could not start: its records stop being buffered (a
   * dead task never acknowledges them, and a full buffer pauses the fetch of every
   * partition), its state is handed back, and it restarts after a backoff, without waiting
   * for a rebalance that may never come. Runs inside the change queue.
   */
  async #fail(partition: number, error: unknown, attempt: number): Promise<void> {
    this.#report(error, partition);
    // A reassignment in between already started it again (over a reopened state).
    if (this.#tasks.has(partition)) return;
    this.#drop(partition);
    // The runtime refuses records after a failure, and a durable backend may have lost its
    // lease: the restart reopens the state, as the next owner would.
    await this.#release(partition);
    if (this.#stopped) return;
    this.#restarts.schedule(
      partition,
      attempt,
      (restart) => void this.#change(() => this.#restart(partition, restart)),
    );
  }

  /** Stops buffering a partition's records: they are dropped and its fetch seeks back on restart. */
  #drop(partition: number): void {
    const source = this.#sources.get(partition);
    const at =
      source?.firstOffset ?? this.#stream?.offsetsToFetch.get(`${this.options.topic}:${partition}`);
    this.#restarts.dropped(partition, at);
    this.#sources.delete(partition);
    this.#seeks.forget(partition);
    source?.close();
  }

  async #restart(partition: number, restart: PendingRestart): Promise<void> {
    // Superseded by a reassignment (which started the partition or gave it away), or stopped.
    if (this.#stopped || !this.#restarts.claim(partition, restart)) return;
    if (!this.#owned().has(partition) || this.#tasks.has(partition)) return;
    this.#restarts.restarting(partition);
    const source = this.#source(partition);
    this.#sources.set(partition, source);
    this.#seeks.expect(partition);
    try {
      await this.#startTask(partition, source, restart.attempt + 1);
    } catch (error) {
      await this.#fail(partition, error, restart.attempt + 1);
    }
    this.options.onPartitions?.(this.partitions);
  }

  #source(partition: number): KafkaPartitionSource {
    const { options } = this;
    return new KafkaPartitionSource(options.source, partition, {
      released: (count) => {
        this.#buffered -= count;
        this.#flow();
      },
      committed: (offset) => this.#commitOffset(partition, offset),
      undecodable: (record, error) =>
        this.#report(
          new Error(
            `Skipped the record at ${record.topic}/${partition}@${record.offset}: not a CloudEvent (${error.message})`,
            { cause: error },
          ),
          partition,
        ),
      ...(options.key ? { key: options.key } : {}),
      ...(options.timestamp ? { timestamp: options.timestamp } : {}),
    });
  }

  /** `attempt`: the consecutive failures before this start (they set the next backoff). */
  async #startTask(partition: number, source: KafkaPartitionSource, attempt = 0): Promise<void> {
    const { options } = this;
    if (this.#states.get(partition)?.failed) await this.#release(partition);
    let state = this.#states.get(partition);
    if (!state) {
      const backend = await options.backend(partition);
      const runtime = new StreamRuntime(options.topology, { backend });
      this.#states.set(partition, (state = { backend, runtime, failed: false }));
    }
    const { backend, runtime } = state;
    const resumeAt = this.#restarts.takeResumeAt(partition);
    this.#seeks.opened(
      partition,
      source,
      () => backend.committedPositions().get(options.source),
      resumeAt,
    );
    const task = new StreamTask({
      runtime,
      sources: [source],
      sinks: options.sinks?.(partition) ?? [],
      ...(options.commitEvery === undefined ? {} : { commitEvery: options.commitEvery }),
      ...(options.commitIntervalMs === undefined
        ? {}
        : { commitIntervalMs: options.commitIntervalMs }),
    });
    const stop = new AbortController();
    const failed = state;
    const entry: PartitionTask = { stop, done: Promise.resolve(), startedAt: performance.now() };
    entry.done = task.run(stop.signal).catch((error: unknown) => {
      failed.failed = true;
      // Failed while being stopped: the next assignment reopens the state (see above).
      if (this.#tasks.get(partition) !== entry) return this.#report(error, partition);
      this.#tasks.delete(partition);
      // At once, not when the change queue gets to it: its buffered records must not hold
      // the fetch of the other partitions.
      this.#drop(partition);
      const next = this.#restarts.attemptAfter(attempt, performance.now() - entry.startedAt);
      void this.#change(async () => {
        await this.#fail(partition, error, next);
        options.onPartitions?.(this.partitions);
      });
    });
    this.#tasks.set(partition, entry);
  }

  async #stopTask(partition: number): Promise<void> {
    const task = this.#tasks.get(partition);
    if (!task) return;
    this.#tasks.delete(partition);
    task.stop.abort();
    await task.done;
  }

  /** The partition left (or the runner stops): its task is stopped; hand its backend back. */
  async #release(partition: number): Promise<void> {
    const state = this.#states.get(partition);
    if (!state) return;
    this.#states.delete(partition);
    await this.options.release?.(partition, state.backend);
  }

  async #stopAll(): Promise<void> {
    for (const partition of [...this.#tasks.keys()]) await this.#stopTask(partition);
  }

  async #commitOffset(partition: number, offset: bigint): Promise<void> {
    try {
      await this.#consumer.commit({
        offsets: [{ topic: this.options.topic, partition, offset: offset + 1n, leaderEpoch: -1 }],
      });
    } catch (error) {
      // During a rebalance the broker refuses commits: the state holds the position anyway.
      this.#report(error, partition);
    }
  }

  #report(error: unknown, partition?: number): void {
    if (this.options.onError) return this.options.onError(error, partition);
    process.emitWarning(
      `Kafka stream runner ${this.options.groupId}${partition === undefined ? '' : ` partition ${partition}`}: ${error instanceof Error ? error.message : String(error)}`,
      'CausewayStreamsWarning',
    );
  }
}
