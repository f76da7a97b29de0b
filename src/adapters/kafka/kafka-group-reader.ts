import {
  Consumer,
  stringDeserializers,
  type ConnectionOptions,
  type ConsumerGroupJoinPayload,
  type Message as KafkaMessage,
  type MessagesStream,
} from '@platformatic/kafka';
import { PartitionOffsets } from './kafka-offsets.js';
import { closeNow } from './kafka-topology.js';

export type KafkaRecord = KafkaMessage<string, string, string, string>;

export interface GroupReaderSettings {
  brokers: string[];
  clientId: string;
  connection?: Omit<ConnectionOptions, 'connectTimeout'>;
  groupId: string;
  topic: string;
  /** Messages the client may buffer ahead of the handlers (memory only; never handed out early). */
  buffer: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxWaitMs: number;
  onError: (error: unknown) => void;
}

const RECONNECT_MS = [250, 500, 1_000, 2_000, 5_000];

/**
 * How long a settled offset may wait for deliveries still with a handler to settle too, so
 * that they share one commit. A commit costs the broker's group coordinator a few milliseconds
 * whatever it carries (Kafka 4 lingers 5 ms per coordinator write), and settled messages count
 * against the consumer's `maxUncommitted` until one covers them: fewer, fuller rounds keep
 * that room free for the handlers.
 */
const COMMIT_LINGER_MS = 10;

/**
 * One consumer-group member reading one topic with manual commits. It hands a message out at
 * most once per ownership of its partition, commits each partition only up to its lowest
 * unsettled offset, forgets a partition the moment a rebalance takes it away, and rebuilds its
 * fetch stream by itself when the broker goes away (the stream ends on a fetch error).
 */
export class GroupReader {
  readonly #consumer: Consumer<string, string, string, string>;
  readonly #partitions = new Map<number, PartitionOffsets>();
  /** Revoked partitions whose settled offsets still go into the next commit. */
  #retiring: PartitionOffsets[] = [];
  #owned = new Set<number>();
  #stream: MessagesStream<string, string, string, string> | undefined;
  #paused = false;
  #closed = false;
  #failures = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #commitRetry: NodeJS.Timeout | undefined;
  #inflight: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  /** A commit round is in flight: settlements meanwhile wait for it (see `#commitSoon`). */
  #committing = false;
  /** Settled offsets not yet in a commit round. */
  #due = false;
  #linger: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: GroupReaderSettings,
    private readonly onMessage: (record: KafkaRecord, offsets: PartitionOffsets) => void,
    /** Settled messages that no longer wait for a commit (committed, or their partition moved). */
    private readonly onCommitted: (count: number) => void,
    /** Whether deliveries are still with a handler (their settlements could join the next round). */
    private readonly busy: () => boolean,
  ) {
    this.#consumer = new Consumer({
      clientId: settings.clientId,
      bootstrapBrokers: settings.brokers,
      ...settings.connection,
      groupId: settings.groupId,
      deserializers: stringDeserializers,
      autocommit: false,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      rebalanceTimeout: settings.rebalanceTimeoutMs,
      maxWaitTime: settings.maxWaitMs,
      highWaterMark: settings.buffer,
      // The broker's own retries (the client's default) before a call fails to us.
      retries: 3,
    });
    this.#consumer.on('consumer:group:join', (payload) => this.#assigned(payload));
    // Committing before the rejoin lets the next owner start after what we settled.
    this.#consumer.on('consumer:group:rebalance', () => void this.flush().catch(() => {}));
    this.#consumer.on('error', (error: unknown) => settings.onError(error));
  }

  /** Joins the group and starts fetching; resolves once this member has its partitions. */
  async start(): Promise<void> {
    await this.#open();
  }

  /** Stops or restarts fetching (credit, a retry waiting for its time, shutdown). */
  setPaused(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    if (!this.#stream) return;
    if (paused) this.#stream.pause();
    else this.#stream.resume();
  }

  /**
   * Marks the offset settled and schedules a commit round. The settlement does not wait for it:
   * a commit can take seconds during a rebalance, and handlers must not stall meanwhile; a
   * failed round is reported and retried, and `close()` commits once more before leaving the
   * group.
   */
  settle(offsets: PartitionOffsets, offset: bigint): void {
    if (!offsets.settle(offset)) this.onCommitted(1);
    this.#due = true;
    this.#commitSoon();
  }

  /**
   * Starts a round for the settled offsets once it can carry the most: not while one is in
   * flight (the broker runs a connection's commits one after another, so overlapping rounds
   * only queue there, each carrying less), and not while deliveries are still with a handler,
   * for at most `COMMIT_LINGER_MS`. When a round returns, the deliveries its room let in are
   * handed out before the next one starts, so that it can carry them too.
   */
  #commitSoon(): void {
    if (!this.#due || this.#committing || this.#closed) return;
    if (this.busy()) {
      this.#linger ??= setTimeout(() => this.#flushReporting(), COMMIT_LINGER_MS);
      return;
    }
    this.#flushReporting();
  }

  #flushReporting(): void {
    this.flush().catch((error: unknown) => this.settings.onError(error));
  }

  /** Commits what is committable now; calls made while a commit is in flight share the next one. */
  flush(): Promise<void> {
    clearTimeout(this.#linger);
    this.#linger = undefined;
    if (!this.#queued) {
      const previous = this.#inflight ?? Promise.resolve();
      this.#queued = previous
        .catch(() => undefined)
        .then(() => {
          this.#queued = undefined;
          this.#due = false;
          this.#committing = true;
          this.#inflight = this.#commit().finally(() => {
            this.#committing = false;
            // After the deliveries that take the freed slots were handed out (the stream
            // resumes on the next tick), so that they are the busy ones the next round awaits.
            setImmediate(() => this.#commitSoon());
          });
          return this.#inflight;
        });
    }
    return this.#queued;
  }

  /** Final commit, then leaves the group (the partitions go to the other members at once). */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#restartTimer);
    await this.flush().catch((error: unknown) => this.settings.onError(error));
    this.#closed = true;
    clearTimeout(this.#commitRetry);
    clearTimeout(this.#linger);
    try {
      await this.#stream?.close();
    } finally {
      await closeNow(this.#consumer);
    }
  }

  /** Leaves without committing more (the driver is closing; unsettled work is redelivered). */
  async abort(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#commitRetry);
    clearTimeout(this.#linger);
    await closeNow(this.#consumer).catch(() => undefined);
  }

  async #open(): Promise<void> {
    const stream = await this.#consumer.consume({
      topics: [this.settings.topic],
      mode: 'committed',
      // A new group reads the destination from its start, as every other transport does.
      fallbackMode: 'earliest',
      autocommit: false,
    });
    if (this.#closed) {
      await stream.close();
      return;
    }
    this.#stream = stream;
    this.#failures = 0;
    this.#owned = this.#ownedNow();
    stream.on('data', (record: KafkaRecord) => this.#receive(record));
    stream.on('error', (error: Error) => this.settings.onError(error));
    stream.on('close', () => {
      if (this.#stream === stream) this.#stream = undefined;
      if (!this.#closed) this.#reopen();
    });
    if (this.#paused) stream.pause();
  }

  /** The stream ended (fetch failed: broker restart, leader change): build a new one. */
  #reopen(): void {
    const delay = RECONNECT_MS[Math.min(this.#failures++, RECONNECT_MS.length - 1)]!;
    this.#restartTimer = setTimeout(() => {
      this.#open().catch((error: unknown) => {
        this.settings.onError(error);
        if (!this.#closed) this.#reopen();
      });
    }, delay);
  }

  #receive(record: KafkaRecord): void {
    if (this.#closed || !this.#owned.has(record.partition)) return;
    let offsets = this.#partitions.get(record.partition);
    if (!offsets) {
      offsets = new PartitionOffsets(record.topic, record.partition);
      this.#partitions.set(record.partition, offsets);
    }
    if (offsets.admit(record.offset)) this.onMessage(record, offsets);
  }

  #assigned(payload: ConsumerGroupJoinPayload): void {
    const owned = new Set(
      (payload.assignments ?? [])
        .filter((a) => a.topic === this.settings.topic)
        .flatMap((a) => a.partitions),
    );
    for (const [partition, offsets] of this.#partitions) {
      if (owned.has(partition)) continue;
      // Another member owns it now: hand out nothing more of it, commit what was settled.
      const forgotten = offsets.revoke();
      if (forgotten > 0) this.onCommitted(forgotten);
      this.#retiring.push(offsets);
      this.#partitions.delete(partition);
    }
    this.#owned = owned;
    if (this.#retiring.length > 0) void this.flush().catch(() => {});
  }

  #ownedNow(): Set<number> {
    return new Set(
      (this.#consumer.assignments ?? [])
        .filter((a) => a.topic === this.settings.topic)
        .flatMap((a) => a.partitions),
    );
  }

  async #commit(): Promise<void> {
    if (this.#closed) return;
    const retiring = this.#retiring;
    this.#retiring = [];
    const due: { offsets: PartitionOffsets; offset: bigint }[] = [];
    for (const offsets of [...retiring, ...this.#partitions.values()]) {
      const offset = offsets.commitPoint();
      if (offset !== undefined) due.push({ offsets, offset });
    }
    if (due.length === 0) return;
    try {
      await this.#consumer.commit({
        offsets: due.map(({ offsets, offset }) => ({
          topic: offsets.topic,
          partition: offsets.partition,
          offset,
          leaderEpoch: -1,
        })),
      });
    } catch (error) {
      // Settled offsets stay settled: the next round (or this timer) commits them.
      this.#retiring.push(...retiring.filter((o) => o.commitPoint() !== undefined));
      clearTimeout(this.#commitRetry);
      this.#commitRetry = setTimeout(() => void this.flush().catch(() => {}), 1_000);
      throw error;
    }
    let covered = 0;
    for (const { offsets, offset } of due) covered += offsets.committed(offset);
    if (covered > 0) this.onCommitted(covered);
  }
}
