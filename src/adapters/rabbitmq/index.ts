/**
 * `causeway/rabbitmq`: the Transport on RabbitMQ via `amqplib` 2.x (an optional peer
 * dependency: install it to use this entry).
 */
export { RabbitMqTransportDriver, type RabbitMqTransportOptions } from './rabbitmq-transport.js';
export { RabbitMqDeadLetterStore, type RabbitMqDeadLetter } from './rabbitmq-dead-letters.js';
export { rabbitMqNames, retryBucket, type RabbitMqNames } from './rabbitmq-topology.js';
export { CE_PREFIX as AMQP_CLOUDEVENTS_PREFIX } from './rabbitmq-wire.js';
