import type {
  AppendOptions,
  AppendResult,
  DeleteStreamOptions,
  ListStreamsOptions,
  NewEvent,
  ReadAllOptions,
  ReadAllPage,
  ReadStreamOptions,
  RecordedEvent,
  EventFilter,
  StreamInfo,
  StreamMetadata,
} from './types.js';
import type { CheckpointStore } from './checkpoint-store.js';
import type { SubscribeOptions, Subscription, SubscriptionHandler } from './subscription.js';

/**
 * The event store port. Three adapters implement it — in-memory (the reference),
 * SQLite and PostgreSQL — and all three pass `test/contracts/event-store.contract.ts`
 * unchanged.
 *
 * Guarantees:
 * - An append is atomic: all its events are written, or none and a typed error is thrown.
 * - Stream versions are contiguous from 1. Global positions strictly increase in commit
 *   order (they may have gaps, e.g. after a rolled-back transaction).
 * - `readAll` and subscriptions never move past an event that a still-open transaction
 *   will commit later, so a reader that resumes after position `p` never misses an event.
 */
export interface EventStore {
  appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options?: AppendOptions,
  ): Promise<AppendResult>;

  /**
   * Reads one stream, paging through it lazily. Throws `StreamNotFoundError` (on first
   * iteration) when the stream does not exist or was soft-deleted, `StreamDeletedError`
   * when it was tombstoned.
   */
  readStream(streamId: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent>;

  /** Reads the global log in position order, lazily. */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent>;

  /** One page of the global log after `after` (exclusive): the primitive subscriptions build on. */
  readAllPage(after: number, limit: number, filter?: EventFilter): Promise<ReadAllPage>;

  /** The highest global position that is safe to read up to right now (0 when empty). */
  headPosition(): Promise<number>;

  /** Facts about a stream, or `undefined` when it was never written. */
  getStream(streamId: string): Promise<StreamInfo | undefined>;

  listStreams(options?: ListStreamsOptions): AsyncIterable<StreamInfo>;

  /** Replaces the stream's metadata. The stream does not have to exist yet. */
  setStreamMetadata(streamId: string, metadata: StreamMetadata): Promise<void>;

  /**
   * Soft delete: the stream reads as missing, but may be written again with `'no_stream'`
   * or `'any'`; versions continue from where they were.
   */
  deleteStream(streamId: string, options?: DeleteStreamOptions): Promise<void>;

  /** Hard delete: events are removed and every later read or append fails with `StreamDeletedError`. */
  tombstoneStream(streamId: string, options?: DeleteStreamOptions): Promise<void>;

  /**
   * Catch-up then live subscription with a durable checkpoint stored under `name`.
   * A subscriber sees every event once per run, in global-position order; after a
   * restart it resumes after its last checkpoint (at-least-once across crashes).
   */
  subscribe(name: string, handler: SubscriptionHandler, options?: SubscribeOptions): Subscription;

  /** Durable subscription checkpoints, in the same database as the events. */
  readonly checkpoints: CheckpointStore;

  close(): Promise<void>;
}
