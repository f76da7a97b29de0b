/**
 * `causeway/sqs`: the Transport on Amazon SQS via `@aws-sdk/client-sqs` v3 (an optional peer
 * dependency: install it to use this entry).
 */
export { SqsTransportDriver, type SqsTransportOptions } from './sqs-transport.js';
export { SqsDeadLetterStore, type SqsDeadLetterSettings } from './sqs-dead-letters.js';
export { SqsTopologyError, groupQueueNames, type GroupQueueNames } from './sqs-topology.js';
export {
  CE_PREFIX,
  MAX_ATTRIBUTES,
  OVERFLOW_ATTRIBUTE,
  toAttributes,
  fromAttributes,
} from './sqs-wire.js';
export { DEFAULT_MAX_MESSAGE_BYTES, MAX_BATCH_ENTRIES } from './sqs-batch.js';
