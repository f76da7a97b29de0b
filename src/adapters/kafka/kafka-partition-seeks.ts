import type { MessagesStream } from '@platformatic/kafka';
import type { KafkaPartitionSource } from './kafka-partition-source.js';

/**
 * Where the fetch of `KafkaStreamRunner`'s newly (re)started partitions must start, kept apart
 * from the runner's group membership and task lifecycle. A partition's state, not Kafka's
 * group offset, says where it resumes: the group offset lags the state (or is missing when no
 * commit reached Kafka), and a fetch position left over from an earlier ownership may be past
 * records the state never saw. So each new partition's fetch is pointed right after its
 * state's position, and records fetched before that seek took are dropped, never processed
 * with a gap before them.
 */

/** Where a newly (re)started partition's fetch must start, until a record shows it does. */
interface PendingSeek {
  /** `position + 1` of the partition's state; `undefined` while the state is not open yet. */
  offset: bigint | undefined;
  /** The fetch count when the seek was set (see `admits`). */
  since: number;
}

/**
 * Fetch responses after a seek by which the fetch surely started at the seek: the first may
 * have been in flight when the seek was set. A later record past the seek is a real gap in
 * the log (compaction, transaction markers), not a missed seek.
 */
const SEEK_FETCHES = 3;

export class KafkaPartitionSeeks {
  /** Newly (re)started partitions whose fetch may not start at their state yet. */
  readonly #pending = new Map<number, PendingSeek>();
  #fetches = 0;

  /** `stream`: the runner's stream once it consumes, whose fetch positions the seeks set. */
  constructor(
    private readonly topic: string,
    private readonly stream: () => MessagesStream<string, string, string, string> | undefined,
  ) {}

  /** The stream answered a fetch. */
  fetched(): void {
    this.#fetches++;
  }

  /** The stream re-read Kafka's group offsets (it does after every join): seek again. */
  reapply(): void {
    for (const partition of this.#pending.keys()) this.#apply(partition);
  }

  /** A newly (re)started partition: where its fetch must start is known once its state is open. */
  expect(partition: number): void {
    this.#pending.set(partition, { offset: undefined, since: this.#fetches });
  }

  /** The partition stopped here: no seek for it any more. */
  forget(partition: number): void {
    this.#pending.delete(partition);
  }

  /**
   * Whether a record fetched for the partition may be buffered. Before the state is open its
   * position is unknown: the record is kept, `opened` checks it. A record past the seek,
   * fetched before the seek took (or the fetch overwrote it), is refused and the seek set
   * again: records between the state's position and it would never be processed.
   */
  admits(partition: number, offset: bigint): boolean {
    const seek = this.#pending.get(partition);
    if (seek?.offset === undefined) return true;
    if (offset > seek.offset && this.#fetches - seek.since < SEEK_FETCHES) {
      this.#apply(partition);
      return false;
    }
    this.#pending.delete(partition);
    return true;
  }

  /**
   * The partition's state is open: `position` reads its committed position for the source
   * (`<source>:<partition>:<offset>`); `resumeAt` is where to read again when it holds none.
   * Records the source fetched past that point are cleared and the fetch seeks back.
   */
  opened(
    partition: number,
    source: KafkaPartitionSource,
    position: () => string | undefined,
    resumeAt: bigint | undefined,
  ): void {
    if (!this.#pending.has(partition)) return;
    const committed = position();
    const offset = committed?.slice(committed.lastIndexOf(':') + 1);
    const target = offset !== undefined && /^\d+$/.test(offset) ? BigInt(offset) + 1n : resumeAt;
    const first = source.firstOffset;
    if (target === undefined || (first !== undefined && first <= target)) {
      // The fetch started at or before the state's position: nothing is missed.
      this.#pending.delete(partition);
    } else {
      // Nothing fetched yet, or fetched past the state's position (records arrived before
      // the state was open): drop what came and point the fetch right after the position.
      source.clear();
      this.#pending.set(partition, { offset: target, since: this.#fetches });
      this.#apply(partition);
    }
  }

  /**
   * Points the partition's fetch right after the state's position, whatever Kafka's group
   * offset says: records before it would be skipped anyway, and records after it must not be
   * missed.
   */
  #apply(partition: number): void {
    const offset = this.#pending.get(partition)?.offset;
    const stream = this.stream();
    if (offset === undefined || !stream) return;
    stream.offsetsToFetch.set(`${this.topic}:${partition}`, offset);
  }
}
