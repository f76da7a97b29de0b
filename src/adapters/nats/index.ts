/**
 * `causeway/nats`: the Transport on NATS JetStream via `@nats-io/transport-node` and
 * `@nats-io/jetstream` (optional peer dependencies: install them to use this entry).
 */
export {
  NatsTransportDriver,
  type NatsDeadLetter,
  type NatsTransportOptions,
} from './nats-transport.js';
export { NatsTopologyError } from './nats-topology.js';
export { NatsDeadLetterStore } from './nats-dead-letters.js';
