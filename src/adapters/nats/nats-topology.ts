import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { errors, nanos } from '@nats-io/transport-node';
import { TransportSetupError } from '../../core/errors.js';

/** A stream or consumer could not be created as configured; `cause` is the server's answer. */
export class NatsTopologyError extends TransportSetupError {}

/**
 * Destination and group names allow `.`, which NATS reserves (subject token separator; not
 * allowed in stream or consumer names). A reversible escape keeps `a.b` and `a_b` apart.
 */
export function natsToken(name: string): string {
  return name.replace(/[_.]/g, (c) => (c === '_' ? '_5F' : '_2E'));
}

export interface DestinationNames {
  stream: string;
  subject: string;
}

/** One stream per destination, one subject per stream (see nats-transport.ts for why). */
export function destinationNames(prefix: string, destination: string): DestinationNames {
  const token = natsToken(destination);
  return { stream: `${prefix}_${token}`, subject: `${prefix}.${token}` };
}

/** The destination's dead letters live in their own destination, readable and replayable. */
export const deadLetterDestination = (destination: string) => `${destination}-dlq`;

export interface ConsumerSettings {
  ackWaitMs: number;
  maxAckPending: number;
}

/** Creates the stream, or accepts it when it already exists with this configuration. */
export async function ensureStream(
  jsm: JetStreamManager,
  names: DestinationNames,
  extra: Partial<StreamConfig>,
): Promise<void> {
  try {
    await jsm.streams.add({
      storage: StorageType.File,
      ...extra,
      name: names.stream,
      subjects: [names.subject],
    });
  } catch (cause) {
    throw new NatsTopologyError(
      names.stream,
      `Cannot create JetStream stream "${names.stream}" for subject "${names.subject}": ${describe(cause)}` +
        (isApiError(cause, 10058)
          ? ' (it exists with a different configuration; update or delete it first)'
          : ''),
      { cause },
    );
  }
}

/**
 * Creates the group's durable pull consumer, or accepts it when it exists with this
 * configuration. A consumer with the same name but other settings is an error, not reused.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  settings: ConsumerSettings,
): Promise<void> {
  const wanted: Partial<ConsumerConfig> = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(settings.ackWaitMs),
    max_ack_pending: settings.maxAckPending,
    // Unlimited here: the driver dead-letters past its own cap instead, because a consumer's
    // max_deliver only parks the message (an advisory, no dead-letter queue).
    max_deliver: -1,
  };
  const resource = `${stream}/${durable}`;
  let existing: ConsumerConfig | undefined;
  try {
    existing = (await jsm.consumers.info(stream, durable)).config;
  } catch (cause) {
    if (!isApiError(cause, CONSUMER_NOT_FOUND))
      throw new NatsTopologyError(
        resource,
        `Cannot inspect JetStream consumer "${durable}" on stream "${stream}": ${describe(cause)}`,
        { cause },
      );
  }
  if (existing) {
    // nats-server 2.9 would silently update a durable created with other settings.
    const different = (Object.keys(wanted) as (keyof ConsumerConfig)[]).filter(
      (field) => existing[field] !== wanted[field],
    );
    if (different.length === 0) return;
    throw new NatsTopologyError(
      resource,
      `JetStream consumer "${durable}" on stream "${stream}" exists with a different configuration ` +
        `(${different.map((f) => `${f}: ${String(existing[f])}, wanted ${String(wanted[f])}`).join('; ')}); ` +
        'update or delete it first',
    );
  }
  try {
    await jsm.consumers.add(stream, wanted);
  } catch (cause) {
    throw new NatsTopologyError(
      resource,
      `Cannot create JetStream consumer "${durable}" on stream "${stream}": ${describe(cause)}`,
      { cause },
    );
  }
}

const CONSUMER_NOT_FOUND = 10014;

export function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/**
 * The server is away (restarting, network cut) rather than refusing the request: the same
 * work may succeed once the client has reconnected. A restarted server answers JetStream
 * requests with "no responders" until it has loaded its streams, which the JetStream client
 * reports as an error whose cause is that request error.
 */
export function isUnreachable(error: unknown): boolean {
  const isRequestFailure = (e: unknown) =>
    e instanceof errors.TimeoutError ||
    e instanceof errors.ConnectionError ||
    e instanceof errors.RequestError;
  const root = error instanceof NatsTopologyError ? error.cause : error;
  return isRequestFailure(root) || (root instanceof Error && isRequestFailure(root.cause));
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
