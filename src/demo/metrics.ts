/**
 * `GET /metrics` for the demo, on `causeway/prometheus`: the consumer runtime's counters (every
 * subscription of this process passes `observer`), and gauges read at scrape time from the
 * stores the flow runs on. One registry per demo system, so two systems in one process (the
 * tests, the bench) never share series.
 */
import { Gauge, Registry } from 'prom-client';
import { CausewayMetrics } from '../adapters/prometheus/index.js';
import type { EventStore } from '../event-store/event-store.js';
import type { ConsumerOptions } from '../messaging/consumer.js';
import type { DeadLetterStore } from '../messaging/dead-letters.js';
import type { OutboxStore } from '../messaging/outbox.js';
import type { SagaStore } from '../sagas/saga-store.js';
import type { MetricsEndpoint } from './http.js';
import type { OrderViews } from './order-views.js';
import { DESTINATIONS } from './services.js';

export interface DemoStores {
  deadLetters: Pick<DeadLetterStore, 'count'>;
  outbox: Pick<OutboxStore, 'backlog'>;
  sagas: Pick<SagaStore, 'countByStatus'>;
  events: Pick<EventStore, 'headPosition'>;
  views: Pick<OrderViews, 'appliedEvents'>;
}

export interface DemoMetrics extends MetricsEndpoint {
  /** Consumer options that count every delivery: spread them into each `subscribe`. */
  readonly consumer: Pick<ConsumerOptions, 'observer'>;
  /** Adds the store gauges once the stores are open. */
  watch(stores: DemoStores): void;
}

/** A service process's `/metrics`: its consumer's counters and its destination's dead letters. */
export function serviceMetrics(
  deadLetters: Pick<DeadLetterStore, 'count'>,
  destination: string,
): MetricsEndpoint & { readonly consumer: Pick<ConsumerOptions, 'observer'> } {
  const registry = new Registry();
  const metrics = new CausewayMetrics({ registry });
  metrics.watchDeadLetters(deadLetters, { destinations: [destination] });
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    consumer: { observer: metrics.consumerObserver },
  };
}

export function demoMetrics(): DemoMetrics {
  const registry = new Registry();
  const metrics = new CausewayMetrics({ registry });
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    consumer: { observer: metrics.consumerObserver },
    watch(stores) {
      // The service destinations by name: in distributed mode this process consumes none of
      // them, so the observer alone would never list the inventory's poison letter.
      metrics.watchDeadLetters(stores.deadLetters, {
        destinations: Object.values(DESTINATIONS),
      });
      metrics.watchOutbox(stores.outbox);
      metrics.watchSagas(stores.sagas);
      metrics.watchEventStore(stores.events);
      // The order view is a plain idempotent consumer (each row holds its stream's version),
      // not a checkpointed projection: `watchProjections` has no checkpoint to read, so its
      // lag is the one gauge the demo defines itself.
      new Gauge({
        name: 'demo_order_view_lag_events',
        help: 'Order events stored but not yet applied to the order view.',
        registers: [registry],
        async collect() {
          this.set((await stores.events.headPosition()) - (await stores.views.appliedEvents()));
        },
      });
    },
  };
}
