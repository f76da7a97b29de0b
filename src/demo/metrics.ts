/**
 * `GET /metrics` for the demo: counters of the messages this process's consumers handled and
 * failed, and gauges read at scrape time from the stores the flow runs on. Kept in this one
 * file so it can move onto `causeway/prometheus` collectors (same metric names).
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { MessageHandler } from '../messaging/consumer.js';
import type { Transport } from '../messaging/create-transport.js';
import type { SagaStatus } from '../sagas/saga-store.js';
import type { MetricsEndpoint } from './http.js';

export interface MetricsSources {
  deadLetters(): Promise<number>;
  outboxBacklog(): Promise<number>;
  /** Order events stored but not yet in the order view. */
  projectionLag(): Promise<number>;
  sagaCounts(): Promise<Record<SagaStatus, number>>;
}

export interface DemoMetrics extends MetricsEndpoint {
  /** The same transport, with every subscriber's handler counted. */
  counted(transport: Transport): Transport;
  /** Adds the store gauges once the stores are open. */
  watch(sources: MetricsSources): void;
}

export function demoMetrics(): DemoMetrics {
  const registry = new Registry();
  const registers = [registry];
  const labelNames = ['destination', 'group'] as const;
  const handled = new Counter({
    name: 'causeway_messages_handled_total',
    help: 'Messages whose handler succeeded (acked).',
    labelNames,
    registers,
  });
  const failed = new Counter({
    name: 'causeway_messages_failed_total',
    help: 'Handler runs that threw (each is then retried or dead-lettered).',
    labelNames,
    registers,
  });
  const count =
    (destination: string, group: string, handler: MessageHandler): MessageHandler =>
    async (message, context) => {
      try {
        await handler(message, context);
      } catch (error) {
        failed.inc({ destination, group });
        throw error;
      }
      handled.inc({ destination, group });
    };
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    counted: (transport) => ({
      publish: (destination, messages) => transport.publish(destination, messages),
      subscribe: (destination, group, handler, options) =>
        transport.subscribe(destination, group, count(destination, group, handler), options),
      close: () => transport.close(),
    }),
    watch(sources) {
      const gauge = (name: string, help: string, read: () => Promise<number>) =>
        new Gauge({
          name,
          help,
          registers,
          async collect() {
            this.set(await read());
          },
        });
      gauge('causeway_dead_letters', 'Messages in the dead-letter queue.', sources.deadLetters);
      gauge(
        'causeway_outbox_pending',
        'Outbox records committed but not yet published.',
        sources.outboxBacklog,
      );
      gauge(
        'causeway_projection_lag_events',
        'Order events stored but not yet applied to the order view.',
        sources.projectionLag,
      );
      new Gauge({
        name: 'causeway_sagas',
        help: 'Fulfilment saga instances by status.',
        labelNames: ['status'] as const,
        registers,
        async collect() {
          for (const [status, n] of Object.entries(await sources.sagaCounts()))
            this.set({ status }, n);
        },
      });
    },
  };
}
