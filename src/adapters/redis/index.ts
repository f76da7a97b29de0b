/**
 * `causeway/redis`: the Transport on Redis Streams and an idempotency store, via `redis`
 * (node-redis v5, an optional peer dependency: install it to use this entry).
 */
export {
  RedisTransportDriver,
  type RedisDeadLetter,
  type RedisTransportOptions,
} from './redis-transport.js';
export { RedisSetupError } from './redis-keys.js';
export { RedisDeadLetterStore } from './redis-dead-letters.js';
export {
  RedisIdempotencyStore,
  type RedisIdempotencyStoreOptions,
} from './redis-idempotency-store.js';
