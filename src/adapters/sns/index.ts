/**
 * `causeway/sns`: the Transport on Amazon SNS topics with SQS group queues, via
 * `@aws-sdk/client-sns` and `@aws-sdk/client-sqs` v3 (optional peer dependencies).
 */
export { SnsTransportDriver, type SnsTransportOptions } from './sns-transport.js';
export { topicName } from './sns-topology.js';
