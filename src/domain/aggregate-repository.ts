import { systemClock, type Clock } from '../core/clock.js';
import { isConcurrencyError } from '../core/errors.js';
import { DEFAULT_RETRY_POLICY, retry, type RetryPolicy } from '../core/retry.js';
import type { EventStore } from '../event-store/event-store.js';
import type { AppendResult, NewEvent } from '../event-store/types.js';
import type { Aggregate, DomainEvent } from './aggregate.js';
import { loadState, maybeSnapshot, type SnapshotSettings } from './stream-loader.js';

export interface AggregateSnapshotSettings<A, S> extends SnapshotSettings {
  capture(aggregate: A): S;
  restore(aggregate: A, state: S): void;
}

export interface AggregateRepositoryOptions<A extends Aggregate<E>, E extends DomainEvent, S> {
  store: EventStore;
  /** Creates an empty aggregate for an id (the constructor, usually). */
  create: (id: string) => A;
  /** The stream of an aggregate id, e.g. `(id) => \`order-${id}\``. */
  streamId: (id: string) => string;
  snapshots?: AggregateSnapshotSettings<A, S>;
  /** Attempts of `update` on a concurrency conflict (reload, re-run, re-append). Default 3. */
  conflictRetry?: Partial<RetryPolicy>;
  clock?: Clock;
}

/**
 * Loads aggregates from their stream (snapshot first when configured) and saves their new
 * events with the loaded version as the expected version, so two writers can never both
 * build on the same state.
 */
export class AggregateRepository<
  A extends Aggregate<E>,
  E extends DomainEvent = DomainEvent,
  S = unknown,
> {
  readonly #loaded = new WeakMap<A, number | undefined>();
  readonly #retry: RetryPolicy;

  constructor(private readonly options: AggregateRepositoryOptions<A, E, S>) {
    this.#retry = {
      ...DEFAULT_RETRY_POLICY,
      maxAttempts: 3,
      initialDelayMs: 5,
      maxDelayMs: 200,
      ...options.conflictRetry,
    };
  }

  async load(id: string): Promise<A> {
    const aggregate = this.options.create(id);
    const snap = this.options.snapshots;
    const history: E[] = [];
    const loaded = await loadState<S | undefined>(
      this.options.store,
      this.options.streamId(id),
      () => undefined,
      (state, event) => {
        history.push({ type: event.type, data: event.data } as E);
        return state;
      },
      snap,
    );
    if (snap && loaded.state !== undefined) snap.restore(aggregate, loaded.state);
    aggregate.loadFromHistory(history, loaded.version);
    this.#loaded.set(aggregate, loaded.snapshotVersion);
    return aggregate;
  }

  /** Appends the aggregate's new events, expecting the version it was loaded at. */
  async save(
    aggregate: A,
    extra: Pick<NewEvent, 'metadata' | 'correlationid' | 'causationid'> = {},
  ): Promise<AppendResult> {
    const events = aggregate.getUncommittedEvents();
    const previous = aggregate.version;
    const result = await this.options.store.appendToStream(
      this.options.streamId(aggregate.id),
      events.map((e) => ({ type: e.type, data: e.data, ...extra })),
      { expectedVersion: previous === 0 ? 'no_stream' : previous },
    );
    aggregate.markCommitted(result.nextExpectedVersion);
    const snap = this.options.snapshots;
    await maybeSnapshot(
      snap,
      this.options.streamId(aggregate.id),
      previous,
      result.nextExpectedVersion,
      this.#loaded.get(aggregate),
      () => snap!.capture(aggregate),
      () => (this.options.clock ?? systemClock).now(),
    );
    return result;
  }

  /**
   * Load, change, save — and on a concurrency conflict, start again from a fresh load, up to
   * the configured attempts. `change` must only touch the aggregate (it may run more than once).
   */
  async update<R>(
    id: string,
    change: (aggregate: A) => R | Promise<R>,
  ): Promise<{ aggregate: A; result: R; append: AppendResult }> {
    return retry(
      async () => {
        const aggregate = await this.load(id);
        const result = await change(aggregate);
        const append = await this.save(aggregate);
        return { aggregate, result, append };
      },
      { policy: this.#retry, isRetryable: isConcurrencyError },
    );
  }
}
