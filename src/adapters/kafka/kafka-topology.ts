import type { Admin } from '@platformatic/kafka';
import { StoreUnavailableError, TransportSetupError } from '../../core/errors.js';

/** A topic could not be created as configured, or a name cannot be a Kafka topic; `cause` is the broker's answer. */
export class KafkaTopologyError extends TransportSetupError {}

/** Kafka topic names: ASCII letters, digits, `.`, `_`, `-`, at most 249 characters. */
const LEGAL = /^[A-Za-z0-9._-]+$/;
const MAX_TOPIC = 249;
/** Suffixes of the topics the driver derives from a destination; a destination may not end with them. */
const RESERVED = /\.(dlq|retry\..*)$/;

/**
 * The names the driver derives for a destination and a group. Everything starts with the
 * prefix, so one cluster can host several applications (and test runs) side by side.
 */
export class KafkaNames {
  constructor(readonly prefix: string) {
    check('prefix', prefix);
  }

  /** The destination's topic: what `publish` writes and every group reads. */
  topic(destination: string): string {
    check('destination', destination);
    if (RESERVED.test(destination))
      throw new KafkaTopologyError(
        destination,
        `Destination "${destination}" ends with a suffix the Kafka transport reserves (.dlq, .retry.<group>)`,
      );
    return fit(`${this.prefix}.${destination}`);
  }

  /** The group's retry topic: a message waiting for its next attempt, for this group only. */
  retryTopic(destination: string, group: string): string {
    check('group', group);
    return fit(`${this.topic(destination)}.retry.${group}`);
  }

  /** The destination's dead letters (a compacted topic keyed by dead-letter id). */
  deadLetterTopic(destination: string): string {
    return fit(`${this.topic(destination)}.dlq`);
  }

  /** The destination a dead-letter topic belongs to, or `undefined` for any other topic. */
  destinationOfDeadLetterTopic(topic: string): string | undefined {
    const start = `${this.prefix}.`;
    if (!topic.startsWith(start) || !topic.endsWith('.dlq')) return undefined;
    return topic.slice(start.length, -'.dlq'.length);
  }

  /** The consumer group reading the destination's topic for `group`. */
  groupId(destination: string, group: string): string {
    check('group', group);
    return `${this.topic(destination)}.${group}`;
  }

  /** The consumer group reading the group's retry topic (its own group: it pauses on its own). */
  retryGroupId(destination: string, group: string): string {
    return this.retryTopic(destination, group);
  }
}

function check(what: string, name: string): void {
  if (!LEGAL.test(name))
    throw new KafkaTopologyError(
      name,
      `Kafka ${what} "${name}" must be non-empty ASCII letters, digits, ".", "_" or "-"`,
    );
}

function fit(topic: string): string {
  if (topic.length > MAX_TOPIC)
    throw new KafkaTopologyError(
      topic,
      `Kafka topic "${topic}" is longer than ${MAX_TOPIC} characters; use a shorter prefix or name`,
    );
  return topic;
}

export interface TopicSettings {
  partitions: number;
  replicas: number;
  /** Topic configuration entries (`cleanup.policy`, `retention.ms`, …). */
  configs?: Record<string, string>;
}

const TOPIC_ALREADY_EXISTS = 36;

/**
 * Creates the topic, or accepts it when it exists. An existing topic keeps its own partition
 * count and configuration: Kafka cannot shrink partitions, and changing them is an operator's
 * decision, not a side effect of starting a consumer.
 */
export async function ensureTopic(
  admin: Admin,
  topic: string,
  settings: TopicSettings,
  /** The brokers' address, for the error when they cannot be reached. */
  address: string,
): Promise<void> {
  try {
    await admin.createTopics({
      topics: [topic],
      partitions: settings.partitions,
      replicas: settings.replicas,
      configs: Object.entries(settings.configs ?? {}).map(([name, value]) => ({ name, value })),
    });
  } catch (cause) {
    if (hasApiCode(cause, TOPIC_ALREADY_EXISTS)) return;
    if (isUnavailable(cause)) throw new StoreUnavailableError(address, { cause });
    throw new KafkaTopologyError(
      topic,
      `Cannot create Kafka topic "${topic}" (${settings.partitions} partitions, ${settings.replicas} replicas): ${describe(cause)}`,
      { cause },
    );
  }
}

/** Broker answers that mean "not reachable right now", not "refused". */
const UNAVAILABLE = new Set([
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_OR_FOLLOWER',
  'BROKER_NOT_AVAILABLE',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'NOT_COORDINATOR',
  'REQUEST_TIMED_OUT',
  'NETWORK_EXCEPTION',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
]);

/**
 * Whether a client error means the cluster cannot be reached (connection refused or lost, a
 * timeout, no leader during an election): callers get a `StoreUnavailableError` and retry, as
 * with every other store, instead of a setup error they would have to fix.
 */
export function isUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 8) return false;
  const { code, apiId, errors, cause } = error as {
    code?: unknown;
    apiId?: unknown;
    errors?: unknown;
    cause?: unknown;
  };
  if (code === 'PLT_KFK_NETWORK' || code === 'PLT_KFK_TIMEOUT') return true;
  if (typeof code === 'string' && /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(code))
    return true;
  if (typeof apiId === 'string' && UNAVAILABLE.has(apiId)) return true;
  if (Array.isArray(errors) && errors.some((e) => isUnavailable(e, depth + 1))) return true;
  return isUnavailable(cause, depth + 1);
}

/** Whether a client error carries this Kafka protocol error code (also inside a group of errors). */
export function hasApiCode(error: unknown, code: number): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { apiCode, errors } = error as { apiCode?: unknown; errors?: unknown };
  if (apiCode === code) return true;
  return Array.isArray(errors) && errors.some((inner) => hasApiCode(inner, code));
}

export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = (error as { errors?: unknown }).errors;
  const details = Array.isArray(inner)
    ? inner.filter((e): e is Error => e instanceof Error).map((e) => e.message)
    : [];
  return details.length > 0 ? `${error.message} (${details.join('; ')})` : error.message;
}

/** Closes a consumer even while a stream is open (its typings only promise this with a callback). */
export function closeNow(consumer: {
  close(force: boolean, callback: (error?: Error | null) => void): void;
}): Promise<void> {
  return new Promise((resolve, reject) =>
    consumer.close(true, (error) => (error ? reject(error) : resolve())),
  );
}
