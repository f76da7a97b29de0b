import type { CheckpointStore } from './checkpoint-store.js';
import type { EventRow, PreparedEvent } from './event-codec.js';
import type {
  AppendResult,
  Direction,
  EventFilter,
  ExpectedVersion,
  StreamInfo,
  StreamMetadata,
} from './types.js';

export type InTransactionHook = (transaction: unknown, rows: readonly EventRow[]) => Promise<void>;

/**
 * The small port a backend implements to become an event store. Validation, serialization,
 * upcasting, stream metadata rules, paging and subscriptions live in the kernel
 * (`createEventStore`); a driver only moves rows in and out of its database, atomically.
 */
export interface EventStoreDriver {
  /** `memory`, `sqlite`, `postgres`… for messages and metrics. */
  readonly kind: string;
  /** Where the data lives, for messages (never includes a password). */
  readonly address: string;

  /**
   * Writes `events` to the end of `streamId` in one transaction, after applying
   * `checkExpectedVersion` to the stream's head inside that transaction. An empty batch
   * only checks. Throws `ConcurrencyError`, `StreamDeletedError` or `DuplicateEventIdError`.
   *
   * `inTransaction`, when given, runs after the rows are written and before the commit, with
   * the driver's transaction handle: inline projections write their read models through it,
   * so events and read-model rows commit together or not at all. If it throws, nothing is
   * written.
   */
  append(
    streamId: string,
    events: readonly PreparedEvent[],
    expected: ExpectedVersion,
    inTransaction?: InTransactionHook,
  ): Promise<AppendResult>;

  getStream(streamId: string): Promise<StreamInfo | undefined>;

  /**
   * Optional: `getStream` and the first `readStreamRows` page in one call, saving a round
   * trip per `readStream`. With `fromVersion` undefined (backwards only) the page starts at
   * the stream's version as returned in `info`. No rows when the stream is missing. Drivers
   * without it are read with the two calls.
   */
  readStreamStart?(
    streamId: string,
    fromVersion: number | undefined,
    direction: Direction,
    limit: number,
  ): Promise<{ info: StreamInfo | undefined; rows: EventRow[] }>;

  /** Up to `limit` raw rows of a stream starting at `fromVersion` (inclusive) in `direction`. */
  readStreamRows(
    streamId: string,
    fromVersion: number,
    direction: Direction,
    limit: number,
  ): Promise<EventRow[]>;

  /**
   * Rows with a position greater than `after`, in position order, matching `filter`, but
   * never beyond the safe high-water mark (no event of a still-open transaction may be
   * passed). `scannedUpTo` is how far the scan got: the last row when the page is full,
   * the high-water mark otherwise.
   */
  readAllRows(
    after: number,
    limit: number,
    filter: EventFilter | undefined,
  ): Promise<{ rows: EventRow[]; scannedUpTo: number; isEnd: boolean }>;

  /** The safe high-water mark: every event at or below it that will ever commit has committed. */
  headPosition(): Promise<number>;

  listStreams(options: {
    prefix?: string;
    after?: string;
    limit: number;
    includeDeleted: boolean;
  }): Promise<StreamInfo[]>;

  setStreamMetadata(streamId: string, metadata: StreamMetadata): Promise<void>;

  /** Soft-deletes or tombstones after checking `expected` in the same transaction. */
  deleteStream(
    streamId: string,
    expected: ExpectedVersion,
    mode: 'soft' | 'tombstone',
  ): Promise<void>;

  readonly checkpoints: CheckpointStore;

  /** Push notification of new commits, where the backend has it. Others are polled. */
  onAppend?(listener: () => void): () => void;

  close(): Promise<void>;
}
