/**
 * `causeway/prometheus`: Prometheus metrics for a Causeway service, on `prom-client` (an
 * optional peer dependency: install it to use this entry).
 */
export { CausewayMetrics, type CausewayMetricsOptions } from './prometheus-metrics.js';
export { ConsumerMetrics, DEFAULT_HANDLER_BUCKETS } from './prometheus-consumer.js';
