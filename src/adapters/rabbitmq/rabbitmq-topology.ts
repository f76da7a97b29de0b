/**
 * Names and queue arguments of everything the RabbitMQ transport declares. One place, so the
 * transport, the dead-letter reader and cleanup scripts agree on them.
 *
 * - `<prefix>.<destination>`: a durable topic exchange; publishers route by message type.
 * - `<prefix>.<destination>.<group>`: the group's durable quorum queue, bound with `#`.
 * - `<prefix>.<destination>.<group>.retry.<ms>`: a retry bucket, a quorum queue whose message
 *   TTL dead-letters back into the group's queue (the broker's own delay mechanism).
 * - `<prefix>.<destination>.<group>.dlq`: the group's dead letters.
 */
export interface RabbitMqNames {
  exchange(destination: string): string;
  queue(destination: string, group: string): string;
  retryQueue(destination: string, group: string, delayMs: number): string;
  deadLetterQueue(destination: string, group: string): string;
}

export function rabbitMqNames(prefix: string): RabbitMqNames {
  return {
    exchange: (destination) => `${prefix}.${destination}`,
    queue: (destination, group) => `${prefix}.${destination}.${group}`,
    retryQueue: (destination, group, delayMs) =>
      `${prefix}.${destination}.${group}.retry.${delayMs}ms`,
    deadLetterQueue: (destination, group) => `${prefix}.${destination}.${group}.dlq`,
  };
}

/**
 * Rounds a delay up to two significant digits (1234 ms → 1300 ms): each bucket is one queue
 * with a fixed TTL, so bounding the number of distinct delays bounds the number of queues,
 * and a message never comes back earlier than asked, at most ~10% later.
 */
export function retryBucket(delayMs: number): number {
  const ms = Math.max(0, Math.ceil(delayMs));
  if (ms < 100) return ms;
  const scale = 10 ** (Math.floor(Math.log10(ms)) - 1);
  return Math.ceil(ms / scale) * scale;
}

export function groupQueueArguments(
  deadLetterQueue: string,
  options: { deliveryLimit: number; singleActiveConsumer: boolean },
): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    // A message that keeps crashing its consumer (redelivered without ever being settled)
    // is moved to the dead-letter queue by the broker instead of looping forever.
    'x-delivery-limit': options.deliveryLimit,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': deadLetterQueue,
    ...(options.singleActiveConsumer ? { 'x-single-active-consumer': true } : {}),
  };
}

/** Unused buckets disappear by themselves; the margin outlives any message still waiting. */
const RETRY_QUEUE_IDLE_MS = 10 * 60_000;

export function retryQueueArguments(groupQueue: string, bucketMs: number): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-message-ttl': bucketMs,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': groupQueue,
    // At-least-once dead-lettering: an expired message leaves the bucket only once the group's
    // queue confirmed it (needs reject-publish overflow).
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
    'x-expires': bucketMs + RETRY_QUEUE_IDLE_MS,
  };
}

export const DEAD_LETTER_QUEUE_ARGUMENTS: Record<string, unknown> = { 'x-queue-type': 'quorum' };
