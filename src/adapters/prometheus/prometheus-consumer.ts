import { Counter, Histogram, type Registry } from 'prom-client';
import type { ConsumerObserver, SettledDelivery } from '../../messaging/consumer.js';

/**
 * Handler durations in seconds: from a cache hit (1 ms) to a slow downstream call (30 s),
 * dense around the 10–500 ms where most message handlers live.
 */
export const DEFAULT_HANDLER_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

type Pair = 'destination' | 'group';

/**
 * The consumer runtime's counters, fed by its `observer` hook. Labels are the destination
 * and the consumer group (and the dead-letter reason); never the message type or key, whose
 * number of values has no bound.
 */
export class ConsumerMetrics implements ConsumerObserver {
  readonly #handled: Counter<Pair>;
  readonly #failed: Counter<Pair>;
  readonly #retried: Counter<Pair>;
  readonly #deadLettered: Counter<Pair | 'reason'>;
  readonly #duration: Histogram<Pair | 'outcome'>;
  readonly #destinations = new Set<string>();

  constructor(registry: Registry, prefix: string, buckets: readonly number[]) {
    const registers = [registry];
    const labelNames = ['destination', 'group'] as const;
    this.#handled = new Counter({
      name: `${prefix}messages_handled_total`,
      help: 'Messages whose handler succeeded (acked).',
      labelNames,
      registers,
    });
    this.#failed = new Counter({
      name: `${prefix}messages_failed_total`,
      help: 'Handler runs that threw (each is then retried or dead-lettered).',
      labelNames,
      registers,
    });
    this.#retried = new Counter({
      name: `${prefix}messages_retried_total`,
      help: 'Messages handed back to the broker for another attempt after a backoff.',
      labelNames,
      registers,
    });
    this.#deadLettered = new Counter({
      name: `${prefix}messages_dead_lettered_total`,
      help: 'Messages stored in the dead-letter queue, by reason.',
      labelNames: [...labelNames, 'reason'],
      registers,
    });
    this.#duration = new Histogram({
      name: `${prefix}handler_duration_seconds`,
      help: 'Handler run time, by how the delivery was settled (acked, retried, dead_lettered).',
      labelNames: [...labelNames, 'outcome'],
      buckets: [...buckets],
      registers,
    });
  }

  /** Destinations a consumer has settled a delivery of (the dead-letter gauge reports them). */
  get destinations(): ReadonlySet<string> {
    return this.#destinations;
  }

  settled(delivery: SettledDelivery): void {
    const labels = { destination: delivery.destination, group: delivery.group };
    this.#destinations.add(delivery.destination);
    if (delivery.outcome === 'acked') this.#handled.inc(labels);
    else if (delivery.durationMs !== undefined) this.#failed.inc(labels);
    if (delivery.outcome === 'retried') this.#retried.inc(labels);
    if (delivery.outcome === 'dead_lettered')
      this.#deadLettered.inc({ ...labels, reason: delivery.reason ?? 'unknown' });
    if (delivery.durationMs !== undefined)
      this.#duration.observe({ ...labels, outcome: delivery.outcome }, delivery.durationMs / 1000);
  }
}
