/**
 * `causeway`: the kernel and the in-memory reference adapters. Drivers live in subpath
 * entries (`causeway/sqlite`, `causeway/postgres`) so users install only what they run.
 */
export * from './core/errors.js';
export * from './core/envelope.js';
export { newId } from './core/ids.js';
export { systemClock, ManualClock, type Clock } from './core/clock.js';
export { validate, type StandardSchemaV1 } from './core/schema.js';
export { serializeJson, deserializeJson } from './core/serializer.js';
export * from './event-store/index.js';
