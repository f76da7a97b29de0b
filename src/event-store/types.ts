import type { CloudEvent, ExtensionAttribute } from '../core/envelope.js';

/** What a caller appends. Everything but `type` and `data` has a sensible default. */
export interface NewEvent<T = unknown, Type extends string = string> {
  type: Type;
  data: T;
  /** Defaults to a fresh UUIDv7. Ids are unique across the store. */
  id?: string;
  source?: string;
  /** Defaults to the stream id. */
  subject?: string;
  time?: Date;
  datacontenttype?: string;
  correlationid?: string;
  causationid?: string;
  traceparent?: string;
  partitionkey?: string;
  /** Free-form metadata (user id, tenant…), kept beside the envelope, never inside `data`. */
  metadata?: Record<string, unknown>;
}

/** An event as stored: the envelope plus its place in its stream and in the global log. */
export interface RecordedEvent<T = unknown, Type extends string = string> extends CloudEvent<T> {
  type: Type;
  metadata: Record<string, unknown>;
  streamId: string;
  /** Position within the stream, from 1, contiguous. */
  streamVersion: number;
  /** Position in the store-wide log: strictly increasing in commit order, may have gaps. */
  globalPosition: number;
  /** The schema version of `data` as delivered (after upcasting). */
  schemaVersion: number;
}

export type { ExtensionAttribute };

/**
 * The expected version of an append:
 * - a number `n`: the stream's last version must be exactly `n` (`0` means "no stream");
 * - `'no_stream'`: the stream must not exist (or must have been soft-deleted);
 * - `'stream_exists'`: the stream must exist;
 * - `'any'`: no check.
 */
export type ExpectedVersion = number | 'any' | 'no_stream' | 'stream_exists';

export interface AppendOptions {
  expectedVersion?: ExpectedVersion;
}

export interface AppendResult {
  /** The stream's version after the append: pass it as `expectedVersion` next time. */
  nextExpectedVersion: number;
  /** The global position of each appended event, in order. */
  positions: number[];
}

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  /** First version to return (inclusive). Defaults to the start (forwards) or end (backwards). */
  from?: number;
  direction?: Direction;
  /** Stop after this many events. */
  limit?: number;
  /** Events fetched per round trip while iterating; default 500. */
  pageSize?: number;
}

export interface EventFilter {
  /** Only these event types. */
  types?: readonly string[];
  /** Only streams whose id starts with this prefix (e.g. `order-`). */
  streamPrefix?: string;
}

export interface ReadAllOptions {
  /** First global position to return (inclusive); default 1. */
  fromPosition?: number;
  filter?: EventFilter;
  limit?: number;
  pageSize?: number;
}

/** One page of the global log, as the subscription engine consumes it. */
export interface ReadAllPage {
  events: RecordedEvent[];
  /**
   * Every event at or below this position that will ever be visible has been considered
   * (returned, or filtered out). Resume after it. Never beyond an open transaction's events.
   */
  scannedUpTo: number;
  /** True when the page reached the currently safe end of the log. */
  isEnd: boolean;
}

export interface StreamMetadata {
  /** Events with a version below this are hidden from `readStream`. It never moves backwards. */
  truncateBefore?: number;
  /** Only the newest `maxCount` events of the stream are readable. */
  maxCount?: number;
  /** Events older than this many milliseconds are hidden from `readStream`. */
  maxAge?: number;
  /** Anything else the application wants to keep with the stream. */
  custom?: Record<string, unknown>;
}

export type StreamState = 'active' | 'soft_deleted' | 'tombstoned';

export interface StreamInfo {
  streamId: string;
  /** Last version written (soft deletion keeps counting from here). */
  version: number;
  state: StreamState;
  metadata: StreamMetadata;
  createdAt: Date;
  updatedAt: Date;
}

export interface ListStreamsOptions {
  prefix?: string;
  /** Resume after this stream id (streams are listed in id order). */
  after?: string;
  limit?: number;
  /** Include soft-deleted and tombstoned streams; default false. */
  includeDeleted?: boolean;
}

export interface DeleteStreamOptions {
  expectedVersion?: ExpectedVersion;
}
