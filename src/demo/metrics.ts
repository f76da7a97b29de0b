/**
 * `GET /metrics` for the demo: Prometheus gauges read at scrape time from the stores the
 * flow runs on. Kept in this one file so it can move onto `causeway/prometheus` collectors.
 */
import { Gauge, Registry } from 'prom-client';
import type { SagaStatus } from '../sagas/saga-store.js';
import type { MetricsEndpoint } from './http.js';

export interface MetricsSources {
  deadLetters(): Promise<number>;
  outboxBacklog(): Promise<number>;
  /** Order events stored but not yet in the order view. */
  projectionLag(): Promise<number>;
  sagaCounts(): Promise<Record<SagaStatus, number>>;
}

export function demoMetrics(sources: MetricsSources): MetricsEndpoint {
  const registry = new Registry();
  const registers = [registry];
  new Gauge({
    name: 'causeway_dead_letters',
    help: 'Messages in the dead-letter queue.',
    registers,
    async collect() {
      this.set(await sources.deadLetters());
    },
  });
  new Gauge({
    name: 'causeway_outbox_pending',
    help: 'Outbox records committed but not yet published.',
    registers,
    async collect() {
      this.set(await sources.outboxBacklog());
    },
  });
  new Gauge({
    name: 'causeway_projection_lag_events',
    help: 'Order events stored but not yet applied to the order view.',
    registers,
    async collect() {
      this.set(await sources.projectionLag());
    },
  });
  new Gauge({
    name: 'causeway_sagas',
    help: 'Fulfilment saga instances by status.',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      for (const [status, n] of Object.entries(await sources.sagaCounts())) this.set({ status }, n);
    },
  });
  return { contentType: registry.contentType, render: () => registry.metrics() };
}
