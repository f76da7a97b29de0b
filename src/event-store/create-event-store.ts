import { systemClock, type Clock } from '../core/clock.js';
import {
  StoreClosedError,
  StreamDeletedError,
  StreamNotFoundError,
  ValidationError,
} from '../core/errors.js';
import type { ProjectionDefinition, ProjectionStore } from '../projections/projection.js';
import type { CheckpointStore } from './checkpoint-store.js';
import { nonNegativeInt, normalizeFilter, positiveInt, validateMetadata } from './input-checks.js';
import type { InTransactionHook } from './driver.js';
import type { EventStoreDriver } from './driver.js';
import { decodeEvent, prepareEvents, type EventRow } from './event-codec.js';
import { EventRegistry } from './event-registry.js';
import type { EventStore } from './event-store.js';
import { assertValidExpectedVersion } from './expected-version.js';
import { assertValidStreamId, DEFAULT_LIMITS, type EventStoreLimits } from './limits.js';
import { isExpired, visibleFromVersion } from './stream-visibility.js';
import {
  CatchUpSubscription,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from './subscription.js';
import type {
  AppendOptions,
  AppendResult,
  DeleteStreamOptions,
  Direction,
  EventFilter,
  ListStreamsOptions,
  NewEvent,
  ReadAllOptions,
  ReadAllPage,
  ReadStreamOptions,
  RecordedEvent,
  StreamInfo,
  StreamMetadata,
} from './types.js';

export interface EventStoreOptions {
  /** Event schemas, schema versions and upcasters. */
  registry?: EventRegistry;
  limits?: Partial<EventStoreLimits>;
  clock?: Clock;
  /** Default CloudEvents `source` for appended events. */
  source?: string;
  /**
   * Projections updated in the same transaction as each append: the events and the
   * read-model rows commit together or not at all. The projection store must live in the
   * same database as the events.
   */
  inline?: { store: ProjectionStore; projections: readonly ProjectionDefinition[] };
}

const DEFAULT_PAGE_SIZE = 500;

/** Builds the full `EventStore` API on top of a backend driver. */
export function createEventStore(
  driver: EventStoreDriver,
  options: EventStoreOptions = {},
): EventStore {
  return new DriverEventStore(driver, options);
}

class DriverEventStore implements EventStore {
  readonly #driver: EventStoreDriver;
  readonly #registry: EventRegistry;
  readonly #limits: EventStoreLimits;
  readonly #clock: Clock;
  readonly #source: string | undefined;
  readonly #inline: EventStoreOptions['inline'];
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(driver: EventStoreDriver, options: EventStoreOptions) {
    this.#driver = driver;
    this.#registry = options.registry ?? new EventRegistry();
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#clock = options.clock ?? systemClock;
    this.#source = options.source;
    this.#inline = options.inline;
  }

  get checkpoints(): CheckpointStore {
    return this.#driver.checkpoints;
  }

  async appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    this.#assertOpen();
    assertValidStreamId(streamId, this.#limits);
    const expected = options.expectedVersion ?? 'any';
    assertValidExpectedVersion(expected);
    const prepared = await prepareEvents(streamId, events, {
      registry: this.#registry,
      limits: this.#limits,
      clock: this.#clock,
      ...(this.#source === undefined ? {} : { source: this.#source }),
    });
    return this.#driver.append(streamId, prepared, expected, await this.#inlineHook());
  }

  #inlineReady: Promise<void> | undefined;

  /** The hook that runs inline projections inside the append's transaction, if any. */
  async #inlineHook(): Promise<InTransactionHook | undefined> {
    const inline = this.#inline;
    if (!inline || inline.projections.length === 0) return undefined;
    const { store, projections } = inline;
    const notInline = projections.find((p) => p.mode !== 'inline');
    if (notInline) {
      // Declared inline so runners and rebuilds refuse it: running it both ways would apply
      // every event twice.
      throw new ValidationError('Invalid inline projections', [
        {
          path: ['inline', 'projections', notInline.name],
          message: "declare it with mode: 'inline'",
        },
      ]);
    }
    if (!store.inlineSession) {
      throw new ValidationError('Invalid inline projections', [
        {
          path: ['inline', 'store'],
          message: 'this projection store cannot join an append transaction',
        },
      ]);
    }
    // Prepared once; a failure is not cached, so a transient error does not poison the store.
    this.#inlineReady ??= Promise.all(projections.map((p) => store.prepare(p))).then(
      () => undefined,
      (error: unknown) => {
        this.#inlineReady = undefined;
        throw error;
      },
    );
    await this.#inlineReady;
    const registry = this.#registry;
    return async (transaction, rows) => {
      for (const projection of projections) {
        const session = store.inlineSession!(transaction, projection);
        for (const row of rows) {
          const handler = projection.handlers[row.type];
          if (handler) await handler(decodeEvent(row, registry), session);
        }
      }
    };
  }

  readStream(streamId: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    return { [Symbol.asyncIterator]: () => this.#iterateStream(streamId, options) };
  }

  async *#iterateStream(
    streamId: string,
    options: ReadStreamOptions,
  ): AsyncGenerator<RecordedEvent> {
    this.#assertOpen();
    assertValidStreamId(streamId, this.#limits);
    const direction = options.direction ?? 'forwards';
    const pageSize = positiveInt(options.pageSize ?? DEFAULT_PAGE_SIZE, 'pageSize');
    let remaining = options.limit === undefined ? Infinity : nonNegativeInt(options.limit, 'limit');
    const { info, first } = await this.#streamStart(streamId, options, direction, pageSize);
    if (!info || info.state === 'soft_deleted' || info.version === 0)
      throw new StreamNotFoundError(streamId);
    if (info.state === 'tombstoned') throw new StreamDeletedError(streamId);

    const lowest = visibleFromVersion(info);
    const now = this.#clock.now();
    let next = options.from ?? (direction === 'forwards' ? lowest : info.version);
    if (options.from !== undefined) nonNegativeInt(options.from, 'from');
    if (direction === 'forwards') next = Math.max(next, lowest);
    // The page read with the info is used only if it starts where the rules say to start.
    let prefetched = first && (first.from ?? info.version) === next ? first.rows : undefined;
    while (remaining > 0) {
      if (direction === 'backwards' && next < lowest) return;
      const want = Math.min(pageSize, remaining);
      const rows =
        prefetched ?? (await this.#driver.readStreamRows(streamId, next, direction, want));
      prefetched = undefined;
      for (const row of rows) {
        if (row.streamVersion < lowest) return;
        if (isExpired(info, row.time, now)) {
          if (direction === 'backwards') return; // everything older is expired too
          continue;
        }
        yield decodeEvent(row, this.#registry);
        remaining--;
      }
      const last = rows.at(-1);
      if (!last || rows.length < want) return;
      next = direction === 'forwards' ? last.streamVersion + 1 : last.streamVersion - 1;
    }
  }

  /**
   * The stream's info, and with a driver that can, its first page read in the same call,
   * starting where the rules would start when the metadata hides nothing (the usual case).
   */
  async #streamStart(
    streamId: string,
    options: ReadStreamOptions,
    direction: Direction,
    pageSize: number,
  ): Promise<{
    info: StreamInfo | undefined;
    first?: { from: number | undefined; rows: EventRow[] };
  }> {
    const limit = options.limit === undefined ? pageSize : Math.min(pageSize, options.limit);
    const { from } = options;
    // An invalid `from` must fail after the stream checks, as it does without prefetching.
    const usable = from === undefined || (Number.isSafeInteger(from) && from >= 0);
    if (!this.#driver.readStreamStart || limit === 0 || !usable)
      return { info: await this.#driver.getStream(streamId) };
    const start = from ?? (direction === 'forwards' ? 1 : undefined);
    const { info, rows } = await this.#driver.readStreamStart(streamId, start, direction, limit);
    return { info, first: { from: start, rows } };
  }

  readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    return { [Symbol.asyncIterator]: () => this.#iterateAll(options) };
  }

  async *#iterateAll(options: ReadAllOptions): AsyncGenerator<RecordedEvent> {
    const pageSize = positiveInt(options.pageSize ?? DEFAULT_PAGE_SIZE, 'pageSize');
    let remaining = options.limit === undefined ? Infinity : nonNegativeInt(options.limit, 'limit');
    let after = Math.max(0, nonNegativeInt(options.fromPosition ?? 1, 'fromPosition') - 1);
    while (remaining > 0) {
      const page = await this.readAllPage(after, Math.min(pageSize, remaining), options.filter);
      for (const event of page.events) {
        yield event;
        remaining--;
      }
      if (page.isEnd) return;
      after = page.scannedUpTo;
    }
  }

  async readAllPage(after: number, limit: number, filter?: EventFilter): Promise<ReadAllPage> {
    this.#assertOpen();
    nonNegativeInt(after, 'after');
    positiveInt(limit, 'limit');
    const { rows, scannedUpTo, isEnd } = await this.#driver.readAllRows(
      after,
      limit,
      normalizeFilter(filter),
    );
    return { events: rows.map((row) => decodeEvent(row, this.#registry)), scannedUpTo, isEnd };
  }

  headPosition(): Promise<number> {
    this.#assertOpen();
    return this.#driver.headPosition();
  }

  getStream(streamId: string): Promise<StreamInfo | undefined> {
    this.#assertOpen();
    assertValidStreamId(streamId, this.#limits);
    return this.#driver.getStream(streamId);
  }

  listStreams(options: ListStreamsOptions = {}): AsyncIterable<StreamInfo> {
    const driver = this.#driver;
    const assertOpen = () => this.#assertOpen();
    return {
      async *[Symbol.asyncIterator]() {
        assertOpen();
        let remaining =
          options.limit === undefined ? Infinity : nonNegativeInt(options.limit, 'limit');
        let after = options.after;
        while (remaining > 0) {
          const limit = Math.min(DEFAULT_PAGE_SIZE, remaining);
          const page = await driver.listStreams({
            limit,
            includeDeleted: options.includeDeleted ?? false,
            ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
            ...(after === undefined ? {} : { after }),
          });
          yield* page;
          remaining -= page.length;
          if (page.length < limit) return;
          after = page.at(-1)?.streamId;
        }
      },
    };
  }

  async setStreamMetadata(streamId: string, metadata: StreamMetadata): Promise<void> {
    this.#assertOpen();
    assertValidStreamId(streamId, this.#limits);
    const next = validateMetadata(metadata);
    // truncateBefore only moves forward: it is also how a soft delete hides the stream's old
    // life, and new metadata must not bring deleted or truncated events back.
    const floor = (await this.#driver.getStream(streamId))?.metadata.truncateBefore;
    if (floor !== undefined && (next.truncateBefore === undefined || next.truncateBefore < floor)) {
      await this.#driver.setStreamMetadata(streamId, { ...next, truncateBefore: floor });
      return;
    }
    await this.#driver.setStreamMetadata(streamId, next);
  }

  async deleteStream(streamId: string, options: DeleteStreamOptions = {}): Promise<void> {
    await this.#delete(streamId, options, 'soft');
  }

  async tombstoneStream(streamId: string, options: DeleteStreamOptions = {}): Promise<void> {
    await this.#delete(streamId, options, 'tombstone');
  }

  async #delete(
    streamId: string,
    options: DeleteStreamOptions,
    mode: 'soft' | 'tombstone',
  ): Promise<void> {
    this.#assertOpen();
    assertValidStreamId(streamId, this.#limits);
    const expected = options.expectedVersion ?? 'any';
    assertValidExpectedVersion(expected);
    await this.#driver.deleteStream(streamId, expected, mode);
  }

  subscribe(
    name: string,
    handler: SubscriptionHandler,
    options: SubscribeOptions = {},
  ): Subscription {
    this.#assertOpen();
    if (typeof name !== 'string' || name.length === 0 || name.length > 255) {
      throw new ValidationError('Invalid subscription', [
        { path: ['name'], message: 'must be a non-empty string of at most 255 characters' },
      ]);
    }
    const driver = this.#driver;
    const subscription = new CatchUpSubscription(name, handler, options, {
      readAllPage: (after, limit, filter) => this.readAllPage(after, limit, filter),
      headPosition: () => driver.headPosition(),
      checkpoints: options.checkpoints ?? driver.checkpoints,
      ...(driver.onAppend
        ? { onAppend: (listener: () => void) => driver.onAppend!(listener) }
        : {}),
    });
    this.#subscriptions.add(subscription);
    void subscription.done
      .catch(() => undefined)
      .finally(() => this.#subscriptions.delete(subscription));
    return subscription;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    await this.#driver.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}
