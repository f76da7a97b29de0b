/**
 * Names and queue arguments of everything the RabbitMQ transport declares. One place, so the
 * transport, the dead-letter reader and cleanup scripts agree on them.
 *
 * - `<prefix>.<destination>`: a durable topic exchange; publishers route by message type.
 * - `<prefix>.<destination>.<group>`: the group's durable quorum queue, bound with `#`.
 * - `<prefix>.<destination>.<group>.retry.<ms>`: a retry bucket, a quorum queue whose message
 *   TTL dead-letters back into the group's queue (the broker's own delay mechanism).
 * - `<prefix>.dead-letters`: a fanout exchange and a durable queue holding the dead letters
 *   of every destination and group (the routing key says which), so operators and the CLI
 *   find them all without knowing the groups.
 */
export interface RabbitMqNames {
  exchange(destination: string): string;
  queue(destination: string, group: string): string;
  retryQueue(destination: string, group: string, delayMs: number): string;
  deadLetterExchange(): string;
  deadLetterQueue(): string;
}

export function rabbitMqNames(prefix: string): RabbitMqNames {
  return {
    exchange: (destination) => `${prefix}.${destination}`,
    queue: (destination, group) => `${prefix}.${destination}.${group}`,
    retryQueue: (destination, group, delayMs) =>
      `${prefix}.${destination}.${group}.retry.${delayMs}ms`,
    deadLetterExchange: () => `${prefix}.dead-letters`,
    deadLetterQueue: () => `${prefix}.dead-letters`,
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
  deadLetters: { exchange: string; routingKey: string },
  options: { deliveryLimit: number; singleActiveConsumer: boolean },
): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    // A message that keeps crashing its consumer (redelivered without ever being settled)
    // is moved to the dead-letter queue by the broker instead of looping forever.
    'x-delivery-limit': options.deliveryLimit,
    'x-dead-letter-exchange': deadLetters.exchange,
    'x-dead-letter-routing-key': deadLetters.routingKey,
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

/**
 * A classic queue: reading dead letters fetches and hands them back, which would count toward
 * a quorum queue's delivery limit (RabbitMQ 4 sets one by default) and drop them in the end.
 */
export const DEAD_LETTER_QUEUE_ARGUMENTS: Record<string, unknown> = { 'x-queue-type': 'classic' };
