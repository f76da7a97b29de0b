import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client';
import { ValidationError } from '../../core/errors.js';
import type { EventStore } from '../../event-store/event-store.js';
import type { ConsumerObserver } from '../../messaging/consumer.js';
import type { DeadLetterStore } from '../../messaging/dead-letters.js';
import type { OutboxBacklog, OutboxStore } from '../../messaging/outbox.js';
import type { ProjectionState, ProjectionStore } from '../../projections/projection.js';
import type { SagaStatus, SagaStatusCount, SagaStore } from '../../sagas/saga-store.js';
import { ConsumerMetrics, DEFAULT_HANDLER_BUCKETS } from './prometheus-consumer.js';
import { collectReadings, Reading } from './prometheus-readings.js';

export interface CausewayMetricsOptions {
  /** Where the metrics register. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prepended to every metric name. Default `causeway_`. */
  prefix?: string;
  /** Histogram buckets of `handler_duration_seconds`, in seconds. */
  handlerBuckets?: readonly number[];
  /**
   * A watched store could not be read during a scrape (its series are left out of that
   * scrape, and `metrics_collect_errors_total` counts it). Default: a process warning.
   */
  onCollectError?: (error: unknown, source: string) => void;
}

/** Every saga status, so a saga's series exist at 0 before its first failure (alerts need that). */
const SAGA_STATUSES = Object.keys({
  running: 0,
  compensating: 0,
  completed: 0,
  failed: 0,
  compensation_failed: 0,
} satisfies Record<SagaStatus, 0>) as SagaStatus[];

const METRIC_PREFIX = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

type ProjectionLabels = 'projection' | 'version' | 'status';
type ProjectionReading = { head: number; states: ProjectionState[]; only: ReadonlySet<string> };

/**
 * Prometheus metrics for a Causeway service, on prom-client. Counters come from the consumer
 * runtime (pass `consumerObserver` as the `observer` of every `subscribe`); gauges are read
 * from the stores at scrape time (`watch*`), so they cost nothing between scrapes and are
 * never stale. A store that cannot be read leaves its series out of that scrape and counts
 * in `metrics_collect_errors_total`; the rest of `/metrics` still answers.
 *
 * ```ts
 * const metrics = new CausewayMetrics({ registry });
 * await transport.subscribe('orders', 'billing', handle, { observer: metrics.consumerObserver });
 * metrics.watchDeadLetters(deadLetters);
 * metrics.watchOutbox(outbox);
 * metrics.watchProjections(projectionStore, eventStore);
 * metrics.watchSagas(sagaStore);
 * // GET /metrics → await registry.metrics()
 * ```
 *
 * A kind may be watched more than once (two schemas, two transports): counts of series with
 * the same labels add up, ages and positions take the largest.
 */
export class CausewayMetrics {
  readonly registry: Registry;
  /** The consumer runtime's hook: `subscribe(destination, group, handler, { observer })`. */
  readonly consumerObserver: ConsumerObserver;
  readonly #consumers: ConsumerMetrics;
  readonly #prefix: string;
  readonly #collectErrors: Counter<'source'>;
  readonly #onCollectError: (error: unknown, source: string) => void;
  readonly #deadLetters = new Set<Reading<Map<string, number>>>();
  readonly #outboxes = new Set<Reading<OutboxBacklog[]>>();
  readonly #outboxDestinations = new Set<string>();
  readonly #projections = new Set<Reading<ProjectionReading>>();
  readonly #heads = new Set<Reading<number>>();
  readonly #sagas = new Set<Reading<SagaStatusCount[]>>();
  readonly #sagaNames = new Set<string>();
  readonly #defined = new Set<string>();

  constructor(options: CausewayMetricsOptions = {}) {
    const prefix = options.prefix ?? 'causeway_';
    if (!METRIC_PREFIX.test(prefix))
      throw new ValidationError('Invalid metrics options', [
        {
          path: ['prefix'],
          message: 'must be letters, digits, "_" or ":", not starting with a digit',
        },
      ]);
    this.#prefix = prefix;
    this.registry = options.registry ?? defaultRegistry;
    this.#onCollectError =
      options.onCollectError ??
      ((error, source) =>
        process.emitWarning(
          `Causeway metrics could not read ${source}: ${error instanceof Error ? error.message : String(error)}`,
          'CausewayMetricsWarning',
        ));
    this.#collectErrors = new Counter({
      name: `${prefix}metrics_collect_errors_total`,
      help: 'Scrapes during which a watched store could not be read, by source.',
      labelNames: ['source'],
      registers: [this.registry],
      // Joins the scrape's reads (prom-client collects metrics concurrently), so a failure
      // shows in the same scrape that left its series out, not only in the next one.
      collect: async () => {
        const all = [
          this.#deadLetters,
          this.#outboxes,
          this.#projections,
          this.#heads,
          this.#sagas,
        ] as ReadonlySet<Reading<unknown>>[];
        await Promise.all(all.flatMap((readings) => [...readings].map((r) => r.take())));
      },
    });
    this.#consumers = new ConsumerMetrics(
      this.registry,
      prefix,
      options.handlerBuckets ?? DEFAULT_HANDLER_BUCKETS,
    );
    this.consumerObserver = this.#consumers;
  }

  /**
   * `dead_letters{destination}`: letters waiting in `store`, per destination. Counted for
   * `destinations` and for every destination `consumerObserver` has seen (at 0 when empty),
   * one `count` query each: a dead-letter store cannot list its destinations cheaply.
   */
  watchDeadLetters(
    store: Pick<DeadLetterStore, 'count'>,
    options: { destinations?: readonly string[] } = {},
  ): () => void {
    const named = options.destinations ?? [];
    return this.#watch(
      this.#deadLetters,
      'dead_letters',
      () => this.#defineDeadLetters(),
      async () => {
        const destinations = new Set([...named, ...this.#consumers.destinations]);
        const counts = await Promise.all(
          [...destinations].map(async (d) => [d, await store.count({ destination: d })] as const),
        );
        return new Map(counts);
      },
    );
  }

  /**
   * `outbox_pending{destination}` and `outbox_oldest_age_seconds{destination}`: what the
   * relay has not published yet, and how long the oldest of it has waited (a relay that
   * is down or a broker that refuses shows as a growing age). A drained destination stays
   * at 0.
   */
  watchOutbox(store: Pick<OutboxStore, 'backlog'>): () => void {
    return this.#watch(
      this.#outboxes,
      'outbox',
      () => this.#defineOutbox(),
      async () => {
        const backlog = await store.backlog();
        for (const entry of backlog) this.#outboxDestinations.add(entry.destination);
        return backlog;
      },
    );
  }

  /**
   * `projection_lag_events`, `projection_position` and `projection_paused`, labelled with
   * projection, version and status: how far each projection's checkpoint is behind the event
   * store's head. Retired versions are left out. Inline projections keep no checkpoint (their
   * rows commit with the events): name the async ones in `only` when the store holds both.
   */
  watchProjections(
    store: Pick<ProjectionStore, 'list'>,
    events: Pick<EventStore, 'headPosition'>,
    options: { only?: readonly string[] } = {},
  ): () => void {
    const only = new Set(options.only ?? []);
    return this.#watch(
      this.#projections,
      'projections',
      () => this.#defineProjections(),
      async () => {
        // The head first: a checkpoint read after it can only be closer, never ahead.
        const head = await events.headPosition();
        return { head, states: await store.list(), only };
      },
    );
  }

  /** `event_store_head_position`: the last global position; `rate()` of it is appends per second. */
  watchEventStore(store: Pick<EventStore, 'headPosition'>): () => void {
    return this.#watch(
      this.#heads,
      'event_store',
      () => this.#defineHead(),
      () => store.headPosition(),
    );
  }

  /**
   * `sagas{saga, status}`: instances per saga and status. Every status of a saga seen once is
   * reported, at 0 when empty, so `sagas{status="failed"} > 0` can alert from the start.
   */
  watchSagas(store: Pick<SagaStore, 'countByStatus'>): () => void {
    return this.#watch(
      this.#sagas,
      'sagas',
      () => this.#defineSagas(),
      async () => {
        const counts = await store.countByStatus();
        for (const count of counts) this.#sagaNames.add(count.name);
        return counts;
      },
    );
  }

  /**
   * Adds a store to watch; the first of its kind defines that kind's gauges, so a registry
   * shows series only for what is watched (an unlabelled gauge would otherwise read 0).
   */
  #watch<T>(
    readings: Set<Reading<T>>,
    source: string,
    define: () => void,
    read: () => Promise<T>,
  ): () => void {
    if (!this.#defined.has(source)) {
      this.#defined.add(source);
      define();
    }
    const reading = new Reading(source, read, (from, error) => {
      this.#collectErrors.inc({ source: from });
      this.#onCollectError(error, from);
    });
    readings.add(reading);
    return () => readings.delete(reading);
  }

  #defineDeadLetters(): void {
    this.#gauge(
      'dead_letters',
      'Dead letters waiting, per destination.',
      ['destination'],
      this.#deadLetters,
      (g, readings) => {
        for (const counts of readings)
          for (const [destination, count] of counts) g.inc({ destination }, count);
      },
    );
  }

  #defineOutbox(): void {
    this.#gauge(
      'outbox_pending',
      'Outbox records not yet published, per destination.',
      ['destination'],
      this.#outboxes,
      (g, readings) => {
        for (const destination of this.#outboxDestinations) g.inc({ destination }, 0);
        for (const entry of readings.flat())
          g.inc({ destination: entry.destination }, entry.pending);
      },
    );
    this.#gauge(
      'outbox_oldest_age_seconds',
      'How long the oldest unpublished outbox record has waited, per destination.',
      ['destination'],
      this.#outboxes,
      (g, readings) => {
        const oldest = new Map<string, number>();
        for (const destination of this.#outboxDestinations) oldest.set(destination, Infinity);
        for (const entry of readings.flat()) {
          const at = entry.oldestCreatedAt.getTime();
          oldest.set(entry.destination, Math.min(oldest.get(entry.destination) ?? at, at));
        }
        const now = Date.now();
        for (const [destination, at] of oldest)
          g.set({ destination }, at === Infinity ? 0 : Math.max(0, now - at) / 1000);
      },
    );
  }

  #defineProjections(): void {
    const projection = (
      name: string,
      help: string,
      value: (state: ProjectionState, head: number) => number,
    ) =>
      this.#gauge<ProjectionReading, ProjectionLabels>(
        name,
        help,
        ['projection', 'version', 'status'],
        this.#projections,
        (g, readings) => {
          for (const { head, states, only } of readings) {
            for (const state of states) {
              if (state.status === 'retired' || (only.size > 0 && !only.has(state.name))) continue;
              const { name: projection, status } = state;
              g.set({ projection, version: String(state.version), status }, value(state, head));
            }
          }
        },
      );
    projection(
      'projection_lag_events',
      'Events between the event store head and the projection checkpoint.',
      (state, head) => Math.max(0, head - state.position),
    );
    projection(
      'projection_position',
      'Global position of the projection checkpoint.',
      (state) => state.position,
    );
    projection('projection_paused', '1 while an operator has paused the projection.', (state) =>
      state.paused ? 1 : 0,
    );
  }

  #defineHead(): void {
    this.#gauge(
      'event_store_head_position',
      'The event store head (last global position): its rate is appends per second.',
      [],
      this.#heads,
      (g, heads) => {
        if (heads.length > 0) g.set(Math.max(...heads));
      },
    );
  }

  #defineSagas(): void {
    this.#gauge(
      'sagas',
      'Saga instances per saga and status.',
      ['saga', 'status'],
      this.#sagas,
      (g, readings) => {
        for (const saga of this.#sagaNames)
          for (const status of SAGA_STATUSES) g.inc({ saga, status }, 0);
        for (const { name, status, count } of readings.flat()) g.inc({ saga: name, status }, count);
      },
    );
  }

  #gauge<T, L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    readings: ReadonlySet<Reading<T>>,
    fill: (gauge: Gauge<L>, values: readonly T[]) => void,
  ): void {
    const gauge: Gauge<L> = new Gauge<L>({
      name: `${this.#prefix}${name}`,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => collectReadings(gauge, readings, fill),
    });
  }
}
