/**
 * `causeway/pulsar`: the Transport on Apache Pulsar through its WebSocket API, with `ws` as
 * the only driver (an optional peer dependency: install it to use this entry).
 */
export { PulsarTransportDriver, type PulsarTransportOptions } from './pulsar-transport.js';
export { PulsarDeadLetterStore } from './pulsar-dead-letters.js';
export { PulsarTopologyError } from './pulsar-admin.js';
export { PulsarPublishError } from './pulsar-socket.js';
