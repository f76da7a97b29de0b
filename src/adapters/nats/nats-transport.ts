import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { StoreUnavailableError } from '../../core/errors.js';
import { encodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo, Message } from '../../messaging/message.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  TransportDriver,
} from '../../messaging/transport.js';
import {
  CE_PREFIX,
  FAILURE_HEADER,
  parseFailure,
  readHeaders,
  toDelivery,
  toNatsHeaders,
} from './nats-delivery.js';
import { NatsAckBatch } from './nats-ack-batch.js';
import { NatsDeadLetterStore } from './nats-dead-letters.js';
import { NatsFailureState } from './nats-failure-state.js';
import { NatsPullLoop } from './nats-pull-loop.js';
import {
  deadLetterDestination,
  describe,
  destinationNames,
  ensureConsumer,
  ensureStream,
  isApiError,
  isUnreachable,
  NatsTopologyError,
  natsToken,
  type DestinationNames,
} from './nats-topology.js';

export interface NatsTransportOptions {
  /** Default `nats://127.0.0.1:4222`. Ignored when `connection` is given. */
  servers?: string | string[];
  /** An open connection to use; the driver then leaves closing it to you. */
  connection?: NatsConnection;
  /** Prefix of stream names and subjects. Default `causeway`. */
  prefix?: string;
  /** How long JetStream waits for a settlement before redelivering. Default 30 s. */
  ackWaitMs?: number;
  /** Unsettled deliveries of a whole group (all its processes). Default 1 000. */
  maxAckPending?: number;
  /** A message delivered more often than this (crash loops) is dead-lettered. Default 100. */
  maxDeliveries?: number;
  /** How long one pull request waits for messages. Default 5 s; `stop()` waits for it. */
  pullExpiresMs?: number;
  /** How long failure records of unsettled messages are kept. Default 7 days. */
  failureStateMaxAgeMs?: number;
  /** Further settings for the streams this driver creates (retention, max age, replicas…). */
  stream?: Partial<Omit<StreamConfig, 'name' | 'subjects'>>;
  /** Pull failures (disconnects, a deleted stream) while the driver keeps retrying. */
  onError?: (error: unknown) => void;
}

/** A dead letter as kept in the destination's `-dlq` stream. */
export interface NatsDeadLetter {
  sequence: number;
  deadLetteredAt: Date;
  message: WireMessage;
  failure: FailureInfo;
}

const PUBLISH_WINDOW = 1_000;

/**
 * JetStream transport. Each destination is one stream with one subject; each group is a
 * durable pull consumer on it (explicit ack), so every group reads the destination from its
 * start and the group's processes share the messages. Retries are `nak` with the backoff delay
 * (the broker holds the message, never this process); dead letters go to the `<destination>-dlq`
 * stream with the failure as headers, confirmed before the original is terminated.
 *
 * Per-key order: JetStream hands a pull consumer's messages to whichever process asks, in
 * stream order but with no key affinity, so the kernel orders keys within one process. With
 * several processes in one group, two messages of a key may run at once in different
 * processes; run one process per group when a key's order matters across processes (pinned
 * priority groups, which would give affinity, need NATS 2.11).
 */
export class NatsTransportDriver implements TransportDriver {
  readonly kind = 'nats';
  /** Plugs into `DeadLetterManager`: list, show, retry (for the letter's group only), purge. */
  readonly deadLetterStore: NatsDeadLetterStore;
  readonly #loops = new Set<NatsPullLoop>();
  readonly #streams = new Map<string, Promise<DestinationNames>>();
  readonly #states = new Map<string, Promise<NatsFailureState>>();
  readonly #prefix: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly owned: boolean,
    private readonly options: NatsTransportOptions,
  ) {
    this.#prefix = options.prefix ?? 'causeway';
    this.deadLetterStore = new NatsDeadLetterStore(jsm, js, this.#prefix);
  }

  static async connect(options: NatsTransportOptions = {}): Promise<NatsTransportDriver> {
    const servers = options.servers ?? 'nats://127.0.0.1:4222';
    let nc = options.connection;
    if (!nc) {
      try {
        // noAsyncTraces: otherwise every request (each publish ack, each acknowledged ack,
        // each pull) allocates two Errors up front to capture the caller's stack, which
        // profiled at ~10% of a busy consumer's CPU; our errors say which operation failed.
        nc = await connect({
          servers,
          name: 'causeway',
          maxReconnectAttempts: -1,
          noAsyncTraces: true,
        });
      } catch (cause) {
        throw new StoreUnavailableError(String(servers), { cause });
      }
    }
    try {
      const jsm = await jetstreamManager(nc);
      return new NatsTransportDriver(nc, jsm, jetstream(nc), !options.connection, options);
    } catch (cause) {
      if (!options.connection) await nc.close();
      throw new NatsTopologyError(
        String(servers),
        `JetStream is not available at ${String(servers)}: ${describe(cause)}`,
        { cause },
      );
    }
  }

  async publish(destination: string, messages: readonly Message[]): Promise<void> {
    await this.publishRaw(
      destination,
      messages.map((m) => encodeBinary(m, CE_PREFIX)),
    );
  }

  /**
   * Publishes already-encoded messages with many publish acks in flight. The message id is the
   * JetStream `Nats-Msg-Id`, so re-publishing after a lost ack is de-duplicated by the stream.
   */
  async publishRaw(destination: string, wires: readonly WireMessage[]): Promise<void> {
    try {
      const { subject } = await this.#ensure(destination);
      for (let start = 0; start < wires.length; start += PUBLISH_WINDOW) {
        await Promise.all(
          wires.slice(start, start + PUBLISH_WINDOW).map((wire) => {
            const id = wire.headers[`${CE_PREFIX}id`];
            return this.js.publish(subject, wire.body, {
              headers: toNatsHeaders(wire.headers),
              ...(id === undefined ? {} : { msgID: id }),
            });
          }),
        );
      }
    } catch (error) {
      // While the server is away, the caller gets the error every store uses for that, and
      // publishing the same messages again is safe: their ids de-duplicate them.
      if (isUnreachable(error))
        throw new StoreUnavailableError(this.nc.getServer(), { cause: error });
      throw error;
    }
  }

  async consume(
    destination: string,
    group: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle> {
    const names = await this.#ensure(destination);
    const groupToken = natsToken(group);
    const ackWaitMs = this.options.ackWaitMs ?? 30_000;
    await ensureConsumer(this.jsm, names.stream, groupToken, {
      ackWaitMs,
      maxAckPending: this.options.maxAckPending ?? 1_000,
    });
    const state = await this.#failureState(destination, names);
    const consumer = await this.js.consumers.get(names.stream, groupToken);
    const onError =
      this.options.onError ??
      ((error: unknown) =>
        process.emitWarning(
          `NATS consumer ${destination}/${group}: ${describe(error)}`,
          'CausewayTransportWarning',
        ));
    const dlq = deadLetterDestination(destination);
    const acks = new NatsAckBatch((m) => loop.acked(m));
    const loop: NatsPullLoop = new NatsPullLoop(
      consumer,
      {
        prefetch: options.prefetch,
        pullExpiresMs: this.options.pullExpiresMs ?? 5_000,
        ackWaitMs,
        maxDeliveries: this.options.maxDeliveries ?? 100,
        destination,
        group,
        onError,
      },
      (msg) =>
        toDelivery(msg, {
          nc: this.nc,
          group,
          groupToken,
          state,
          ack: (m) => acks.ack(m),
          publishDeadLetter: (wire, dedupeId) => this.#publishDeadLetter(dlq, wire, dedupeId),
          settled: (m) => loop.settled(m),
        }),
      onDelivery,
    );
    this.#loops.add(loop);
    loop.start();
    return {
      stop: async () => {
        await loop.stop();
        await acks.drain();
        this.#loops.delete(loop);
      },
    };
  }

  /** The dead letters of a destination, oldest first (read from its `-dlq` stream). */
  async listDeadLetters(destination: string): Promise<NatsDeadLetter[]> {
    const { stream } = destinationNames(this.#prefix, deadLetterDestination(destination));
    let first: number;
    let last: number;
    try {
      const info = await this.jsm.streams.info(stream);
      ({ first_seq: first, last_seq: last } = info.state);
    } catch (error) {
      if (isApiError(error, STREAM_NOT_FOUND)) return [];
      throw error;
    }
    const letters: NatsDeadLetter[] = [];
    for (let seq = first; seq <= last && last > 0; seq++) {
      const stored = await this.jsm.streams.getMessage(stream, { seq });
      if (!stored) continue;
      const headers = readHeaders(stored.header);
      const failure = parseFailure(headers[FAILURE_HEADER]);
      if (!failure) continue;
      letters.push({
        sequence: seq,
        deadLetteredAt: stored.time,
        message: { headers, body: stored.string() },
        failure,
      });
    }
    return letters;
  }

  /** Deletes a destination's streams (messages, dead letters, failure state) and its groups. */
  async deleteDestination(destination: string): Promise<void> {
    const main = destinationNames(this.#prefix, destination);
    const dlq = destinationNames(this.#prefix, deadLetterDestination(destination));
    for (const stream of [main.stream, `${main.stream}_state`, dlq.stream, `${dlq.stream}_state`]) {
      try {
        await this.jsm.streams.delete(stream);
      } catch (error) {
        if (!isApiError(error, STREAM_NOT_FOUND)) throw error;
      }
    }
    for (const name of [destination, deadLetterDestination(destination)]) {
      this.#streams.delete(name);
      this.#states.delete(name);
    }
  }

  async close(): Promise<void> {
    for (const loop of this.#loops) loop.close();
    this.#loops.clear();
    if (this.owned && !this.nc.isClosed()) await this.nc.close();
  }

  async #publishDeadLetter(dlq: string, wire: WireMessage, dedupeId: string): Promise<void> {
    const { subject } = await this.#ensure(dlq);
    await this.js.publish(subject, wire.body, {
      headers: toNatsHeaders(wire.headers),
      msgID: dedupeId,
    });
  }

  /** Creates each destination's stream once per driver; a failed attempt is retried next time. */
  #ensure(destination: string): Promise<DestinationNames> {
    let ready = this.#streams.get(destination);
    if (!ready) {
      const names = destinationNames(this.#prefix, destination);
      ready = ensureStream(this.jsm, names, this.options.stream ?? {}).then(() => names);
      ready.catch(() => this.#streams.delete(destination));
      this.#streams.set(destination, ready);
    }
    return ready;
  }

  #failureState(destination: string, names: DestinationNames): Promise<NatsFailureState> {
    let ready = this.#states.get(destination);
    if (!ready) {
      ready = NatsFailureState.open(
        this.jsm,
        this.js,
        names,
        this.options.failureStateMaxAgeMs ?? 7 * 24 * 3_600_000,
      );
      ready.catch(() => this.#states.delete(destination));
      this.#states.set(destination, ready);
    }
    return ready;
  }
}

const STREAM_NOT_FOUND = 10059;
