/**
 * `causeway/kafka`: the Transport on Apache Kafka via `@platformatic/kafka` (an optional peer
 * dependency: install it to use this entry).
 */
export { KafkaTransportDriver, type KafkaTransportOptions } from './kafka-transport.js';
export { KafkaDeadLetterStore } from './kafka-dead-letters.js';
export { KafkaNames, KafkaTopologyError } from './kafka-topology.js';
export { CE_PREFIX as KAFKA_CLOUDEVENTS_PREFIX } from './kafka-wire.js';
export { KafkaStreamRunner, type KafkaStreamRunnerOptions } from './kafka-stream-runner.js';
