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
   * Failures the runner recovers from or reports only: a failed Kafka offset commit (the state
   * holds the position anyway), a record that is not a CloudEvent (skipped), a partition task
   * that failed (its partition stops here until the next assignment). Default: a process warning.
   */
  onError?: (error: unknown, partition?: number) => void;
  /** Called with the partitions this process runs once an assignment change has settled. */
  onPartitions?: (partitions: ReadonlySet<number>) => void;
}

interface PartitionTask {
  source: KafkaPartitionSource;
  runtime: StreamRuntime;
  stop: AbortController;
  done: Promise<unknown>;
}

/**
 * Runs a topology over a Kafka topic with its work split by partition through the consumer
 * group: one `StreamTask` per partition this process owns, each over the state backend of
 * that partition. On assignment a partition's task resumes from the position committed in
 * its backend; when a rebalance starts, every task commits and stops (Kafka's eager protocol
 * revokes all partitions), and the join that ends it starts tasks for the partitions this
 * process then owns. Kafka's group offsets follow the state commits, only to shorten the
 * re-read after a move; the state's position is what counts.
 */
export class KafkaStreamRunner {
  readonly #consumer: Consumer<string, string, string, string>;
  readonly #tasks = new Map<number, PartitionTask>();
  #stream: MessagesStream<string, string, string, string> | undefined;
  /** Assignment changes, one after another: a partition starts only after its last owner here stopped. */
  #changes: Promise<void> = Promise.resolve();
  #buffered = 0;
  #paused = false;
  #stopped = false;

  private constructor(private readonly options: KafkaStreamRunnerOptions) {
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
    this.#consumer.on('consumer:group:rebalance', () => this.#change(() => this.#stopAll()));
    this.#consumer.on('consumer:group:join', () => this.#change(() => this.#assign()));
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
    return this.#tasks.get(partition)?.runtime;
  }

  /** Commits and stops every task, then leaves the group (the partitions move on at once). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#change(() => this.#stopAll());
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
    await this.#change(() => this.#assign());
  }

  #change(step: () => Promise<void>): Promise<void> {
    this.#changes = this.#changes.then(step).catch((error: unknown) => this.#report(error));
    return this.#changes;
  }

  #route(record: KafkaRecord): void {
    const task = this.#tasks.get(record.partition);
    // Fetched for a partition this process no longer runs: the next owner reads it again.
    if (!task || record.topic !== this.options.topic) return;
    this.#buffered++;
    task.source.offer(record);
    this.#flow();
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
    const owned = new Set(
      (this.#consumer.assignments ?? [])
        .filter((a) => a.topic === this.options.topic)
        .flatMap((a) => a.partitions),
    );
    for (const partition of this.#tasks.keys())
      if (!owned.has(partition)) await this.#stopTask(partition);
    for (const partition of owned)
      if (!this.#tasks.has(partition)) await this.#startTask(partition);
    this.options.onPartitions?.(this.partitions);
  }

  async #startTask(partition: number): Promise<void> {
    const { options } = this;
    const source = new KafkaPartitionSource(options.source, partition, {
      taken: () => {
        this.#buffered--;
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
    const runtime = new StreamRuntime(options.topology, {
      backend: await options.backend(partition),
    });
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
    const done = task.run(stop.signal).catch((error: unknown) => this.#report(error, partition));
    this.#tasks.set(partition, { source, runtime, stop, done });
  }

  async #stopTask(partition: number): Promise<void> {
    const task = this.#tasks.get(partition);
    if (!task) return;
    this.#tasks.delete(partition);
    task.stop.abort();
    await task.done;
    this.#buffered -= task.source.close();
    this.#flow();
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
