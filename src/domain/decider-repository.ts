import { systemClock, type Clock } from '../core/clock.js';
import { isConcurrencyError } from '../core/errors.js';
import { DEFAULT_RETRY_POLICY, retry, type RetryPolicy } from '../core/retry.js';
import type { EventStore } from '../event-store/event-store.js';
import type { AppendResult } from '../event-store/types.js';
import type { DomainEvent } from './aggregate.js';
import { decisionEvents, foldEvents, type Decider } from './decider.js';
import {
  loadState,
  maybeSnapshot,
  type LoadedState,
  type SnapshotSettings,
} from './stream-loader.js';

export interface DeciderRepositoryOptions<S, C, E extends DomainEvent> {
  store: EventStore;
  decider: Decider<S, C, E>;
  snapshots?: SnapshotSettings;
  /** Attempts on a concurrency conflict (reload, re-decide, re-append). Default 3. */
  conflictRetry?: Partial<RetryPolicy>;
  clock?: Clock;
}

export interface Decision<S, E> {
  events: readonly E[];
  state: S;
  append: AppendResult;
}

/** Runs a decider against a stream: load state, decide, append with the loaded version. */
export class DeciderRepository<S, C, E extends DomainEvent> {
  readonly #retry: RetryPolicy;

  constructor(private readonly options: DeciderRepositoryOptions<S, C, E>) {
    this.#retry = {
      ...DEFAULT_RETRY_POLICY,
      maxAttempts: 3,
      initialDelayMs: 5,
      maxDelayMs: 200,
      ...options.conflictRetry,
    };
  }

  load(streamId: string): Promise<LoadedState<S>> {
    const { decider } = this.options;
    return loadState(
      this.options.store,
      streamId,
      decider.initialState,
      (state, event) => decider.evolve(state, { type: event.type, data: event.data } as E),
      this.options.snapshots,
    );
  }

  /** Decides `command` on the current state and appends the result; retries on conflicts. */
  handle(streamId: string, command: C): Promise<Decision<S, E>> {
    return retry(() => this.#handleOnce(streamId, command), {
      policy: this.#retry,
      isRetryable: isConcurrencyError,
    });
  }

  async #handleOnce(streamId: string, command: C): Promise<Decision<S, E>> {
    const { decider, store } = this.options;
    const loaded = await this.load(streamId);
    const events = decisionEvents(decider.decide(command, loaded.state));
    const append = await store.appendToStream(
      streamId,
      events.map((e) => ({ type: e.type, data: e.data })),
      { expectedVersion: loaded.version === 0 ? 'no_stream' : loaded.version },
    );
    const state = foldEvents(decider, loaded.state, events);
    await maybeSnapshot(
      this.options.snapshots,
      streamId,
      loaded.version,
      append.nextExpectedVersion,
      loaded.snapshotVersion,
      () => state,
      () => (this.options.clock ?? systemClock).now(),
    );
    return { events, state, append };
  }
}
