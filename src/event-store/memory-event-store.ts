import { systemClock, type Clock } from '../core/clock.js';
import { DuplicateEventIdError } from '../core/errors.js';
import { MemoryCheckpointStore } from './checkpoint-store.js';
import { createEventStore, type EventStoreOptions } from './create-event-store.js';
import type { EventStoreDriver, InTransactionHook } from './driver.js';
import { AsyncLock, MemoryTransaction } from './memory-transaction.js';
import type { EventRow, PreparedEvent } from './event-codec.js';
import type { EventStore } from './event-store.js';
import { checkExpectedVersion } from './expected-version.js';
import type {
  AppendResult,
  Direction,
  EventFilter,
  ExpectedVersion,
  StreamInfo,
  StreamMetadata,
} from './types.js';

interface MemoryStream {
  info: StreamInfo;
  /** Index `i` holds version `i + 1`; tombstoning clears it. */
  events: EventRow[];
}

/**
 * The reference event store: everything in process memory, single-threaded, so every
 * append is trivially atomic and positions are assigned in commit order. It passes the same
 * contract suite as the SQL stores and is what unit tests and examples use.
 */
export class MemoryEventStoreDriver implements EventStoreDriver {
  readonly kind = 'memory';
  readonly address = 'memory';
  readonly checkpoints = new MemoryCheckpointStore();
  readonly #streams = new Map<string, MemoryStream>();
  readonly #log: EventRow[] = [];
  readonly #ids = new Set<string>();
  readonly #listeners = new Set<() => void>();
  #position = 0;
  readonly #lock = new AsyncLock();

  constructor(private readonly clock: Clock = systemClock) {}

  async append(
    streamId: string,
    events: readonly PreparedEvent[],
    expected: ExpectedVersion,
    inTransaction?: InTransactionHook,
  ): Promise<AppendResult> {
    // Appends with inline projections await inside; the lock keeps them one at a time, as a
    // database's write transaction would.
    return this.#lock.run(async () => {
      const stream = this.#streams.get(streamId);
      checkExpectedVersion(streamId, expected, stream?.info);
      if (events.length === 0) {
        return {
          nextExpectedVersion: stream?.info.state === 'active' ? stream.info.version : 0,
          positions: [],
        };
      }
      for (const event of events) {
        if (this.#ids.has(event.id)) throw new DuplicateEventIdError(event.id);
      }
      const base = stream?.info.version ?? 0;
      const rows: EventRow[] = events.map((event, i) => ({
        ...event,
        streamId,
        streamVersion: base + i + 1,
        globalPosition: this.#position + i + 1,
      }));
      const transaction = new MemoryTransaction();
      if (inTransaction) await inTransaction(transaction, rows);

      // Commit: nothing above has touched the store's state.
      const now = this.clock.now();
      const target = stream ?? this.#createStream(streamId, now);
      for (const row of rows) {
        target.events.push(row);
        this.#log.push(row);
        this.#ids.add(row.id);
      }
      this.#position += rows.length;
      target.info.version = base + rows.length;
      target.info.state = 'active';
      target.info.updatedAt = now;
      transaction.commit();
      for (const listener of this.#listeners) listener();
      return {
        nextExpectedVersion: target.info.version,
        positions: rows.map((r) => r.globalPosition),
      };
    });
  }

  #createStream(streamId: string, now: Date): MemoryStream {
    const stream: MemoryStream = {
      info: { streamId, version: 0, state: 'active', metadata: {}, createdAt: now, updatedAt: now },
      events: [],
    };
    this.#streams.set(streamId, stream);
    return stream;
  }

  async getStream(streamId: string): Promise<StreamInfo | undefined> {
    const stream = this.#streams.get(streamId);
    return stream ? cloneInfo(stream.info) : undefined;
  }

  async readStreamRows(
    streamId: string,
    fromVersion: number,
    direction: Direction,
    limit: number,
  ): Promise<EventRow[]> {
    const stream = this.#streams.get(streamId);
    if (!stream) return [];
    // After a tombstone the array is empty; versions otherwise map straight to indexes.
    const offset = stream.events[0]?.streamVersion ?? 1;
    if (direction === 'forwards') {
      const start = Math.max(0, fromVersion - offset);
      return stream.events.slice(start, start + limit);
    }
    const end = Math.min(stream.events.length, fromVersion - offset + 1);
    return end <= 0 ? [] : stream.events.slice(Math.max(0, end - limit), end).reverse();
  }

  async readAllRows(after: number, limit: number, filter: EventFilter | undefined) {
    const rows: EventRow[] = [];
    let index = lowerBound(this.#log, after);
    for (; index < this.#log.length && rows.length < limit; index++) {
      const row = this.#log[index]!;
      if (matches(row, filter)) rows.push(row);
    }
    const isEnd = index >= this.#log.length;
    const scannedUpTo = isEnd
      ? Math.max(after, this.#position)
      : (this.#log[index - 1]?.globalPosition ?? after);
    return { rows, scannedUpTo, isEnd };
  }

  async headPosition(): Promise<number> {
    return this.#position;
  }

  async listStreams(options: {
    prefix?: string;
    after?: string;
    limit: number;
    includeDeleted: boolean;
  }): Promise<StreamInfo[]> {
    const ids = [...this.#streams.keys()].sort();
    const out: StreamInfo[] = [];
    for (const id of ids) {
      if (out.length >= options.limit) break;
      if (options.after !== undefined && id <= options.after) continue;
      if (options.prefix !== undefined && !id.startsWith(options.prefix)) continue;
      const info = this.#streams.get(id)!.info;
      if (!options.includeDeleted && info.state !== 'active') continue;
      out.push(cloneInfo(info));
    }
    return out;
  }

  async setStreamMetadata(streamId: string, metadata: StreamMetadata): Promise<void> {
    const now = this.clock.now();
    const stream = this.#streams.get(streamId) ?? this.#createStream(streamId, now);
    stream.info.metadata = structuredClone(metadata);
    stream.info.updatedAt = now;
  }

  async deleteStream(
    streamId: string,
    expected: ExpectedVersion,
    mode: 'soft' | 'tombstone',
  ): Promise<void> {
    return this.#lock.run(async () => {
      const stream = this.#streams.get(streamId);
      checkExpectedVersion(streamId, expected, stream?.info);
      const now = this.clock.now();
      const target = stream ?? this.#createStream(streamId, now);
      target.info.updatedAt = now;
      if (mode === 'soft') {
        target.info.state = 'soft_deleted';
        target.info.metadata = { ...target.info.metadata, truncateBefore: target.info.version + 1 };
        return;
      }
      target.info.state = 'tombstoned';
      const removed = new Set(target.events.map((row) => row.globalPosition));
      target.events = [];
      for (let i = this.#log.length - 1; i >= 0; i--) {
        const row = this.#log[i]!;
        if (removed.has(row.globalPosition)) {
          this.#log.splice(i, 1);
          this.#ids.delete(row.id);
        }
      }
    });
  }

  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}

/** An in-memory event store; pass the same options as to the SQL stores. */
export function createMemoryEventStore(options: EventStoreOptions = {}): EventStore {
  return createEventStore(new MemoryEventStoreDriver(options.clock), options);
}

function matches(row: EventRow, filter: EventFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.types && !filter.types.includes(row.type)) return false;
  if (filter.streamPrefix !== undefined && !row.streamId.startsWith(filter.streamPrefix))
    return false;
  return true;
}

/** First index whose position is greater than `after` (the log is sorted by position). */
function lowerBound(log: readonly EventRow[], after: number): number {
  let lo = 0;
  let hi = log.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (log[mid]!.globalPosition <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function cloneInfo(info: StreamInfo): StreamInfo {
  return {
    ...info,
    metadata: structuredClone(info.metadata),
    createdAt: new Date(info.createdAt),
    updatedAt: new Date(info.updatedAt),
  };
}
