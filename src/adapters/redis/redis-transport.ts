import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { StoreClosedError } from '../../core/errors.js';
import { encodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo, Message } from '../../messaging/message.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  TransportDriver,
} from '../../messaging/transport.js';
import {
  closeClient,
  assertServerVersion,
  openClient,
  redactUrl,
  unavailable,
  type RedisClient,
} from './redis-connection.js';
import { RedisDeadLetterStore } from './redis-dead-letters.js';
import { RedisAckBatch } from './redis-ack-batch.js';
import {
  CE_PREFIX,
  RedisDelivery,
  wireFields,
  type DeliveryScope,
  type StreamEntry,
} from './redis-delivery.js';
import {
  describe,
  destinationKeys,
  destinationsKey,
  isReplyError,
  RedisSetupError,
} from './redis-keys.js';
import { RedisReadLoop } from './redis-read-loop.js';

export interface RedisTransportOptions {
  /** Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of every key the driver writes. Default `causeway`. */
  prefix?: string;
  /**
   * Approximate cap on each destination stream's length (`XADD … MAXLEN ~ n`). Off by default,
   * because Redis trims by length alone: an entry a slow group has not read yet, or is still
   * handling, is dropped all the same (the driver reports such entries through `onError` when
   * it finds them gone). Set it only far above any backlog a group can build up.
   */
  maxLength?: number;
  /**
   * An entry left unsettled this long by its consumer is claimed by another (`XAUTOCLAIM`):
   * the consumer is taken for dead. Consumers keep their own entries fresh while handlers run,
   * so a slow handler is not mistaken for a dead one. Default 30 s.
   */
  claimMinIdleMs?: number;
  /** How often a consumer looks for idle entries to claim. Default a third of `claimMinIdleMs`. */
  claimIntervalMs?: number;
  /** How long one `XREADGROUP` blocks waiting for entries. Default 5 s (`stop()` interrupts it). */
  blockMs?: number;
  /** How often a consumer moves due retries out of the delayed set at the latest. Default 500 ms. */
  retryPollIntervalMs?: number;
  /** A message delivered more often than this (it crashes its consumer) is dead-lettered. Default 100. */
  maxDeliveries?: number;
  /** Connection losses and read failures while the driver keeps going. Default: a process warning. */
  onError?: (error: unknown) => void;
}

/** A dead letter as kept in the destination's dead-letter stream. */
export interface RedisDeadLetter {
  id: string;
  deadLetteredAt: Date;
  message: WireMessage;
  failure: FailureInfo;
}

/** Idle time of a released entry: far past any `claimMinIdleMs`, so it is claimed at once. */
const RELEASED_IDLE_MS = 2 ** 40;

/**
 * Redis Streams transport (node-redis v5). Each destination is one stream; each group is a
 * consumer group on it created at the stream's start, so a group also gets what was published
 * before it first subscribed (as far as trimming kept it). Each consumer reads with a blocking
 * `XREADGROUP` on its own connection and acks (`XACK`) only once the runtime settled the entry.
 *
 * A retry goes to the group's delayed set (a sorted set scored by due time) in the same Lua
 * step that acks the entry; a poller in every consumer of the group moves due entries into the
 * group's retry stream (also read by the group), so a retry survives any consumer's restart
 * and no process holds the message while it waits. Dead letters go to the destination's
 * dead-letter stream with the failure, added in the same step that acks the original.
 *
 * An entry whose consumer died stays in the group's pending entries list; another consumer
 * claims it after `claimMinIdleMs` (`XAUTOCLAIM`), and its delivery count there is the attempt.
 */
export class RedisTransportDriver implements TransportDriver {
  readonly kind = 'redis';
  /** Plugs into `DeadLetterManager`: list, show, retry (for the letter's group only), purge. */
  readonly deadLetterStore: RedisDeadLetterStore;
  readonly #loops = new Set<{ loop: RedisReadLoop; reader: RedisClient }>();
  readonly #known = new Set<string>();
  readonly #prefix: string;
  readonly #onError: (error: unknown) => void;
  #closed = false;

  private constructor(
    private readonly client: RedisClient,
    private readonly address: string,
    private readonly url: string,
    private readonly options: RedisTransportOptions,
  ) {
    this.#prefix = options.prefix ?? 'causeway';
    this.#onError = options.onError ?? warn;
    this.deadLetterStore = new RedisDeadLetterStore(client, this.#prefix);
  }

  /** Connects (failing fast with `StoreUnavailableError`) and checks the server can do streams. */
  static async connect(options: RedisTransportOptions = {}): Promise<RedisTransportDriver> {
    const url = options.url ?? 'redis://127.0.0.1:6379';
    const address = redactUrl(url);
    const onError = options.onError ?? warn;
    const client = await openClient(url, onError);
    try {
      await assertServerVersion(client, address);
    } catch (error) {
      client.destroy();
      throw error;
    }
    return new RedisTransportDriver(client, address, url, options);
  }

  async publish(destination: string, messages: readonly Message[]): Promise<void> {
    await this.publishRaw(
      destination,
      messages.map((m) => encodeBinary(m, CE_PREFIX)),
    );
  }

  /**
   * Appends already-encoded messages, pipelined on one connection (so in order), and resolves
   * once Redis answered every `XADD`: each entry is then in the server's memory, and on disk as
   * its persistence settings say (see the README: `appendonly`, `appendfsync`).
   */
  async publishRaw(destination: string, wires: readonly WireMessage[]): Promise<void> {
    this.#assertOpen();
    const { stream } = destinationKeys(this.#prefix, destination);
    const trim =
      this.options.maxLength === undefined ? [] : ['MAXLEN', '~', String(this.options.maxLength)];
    try {
      await this.#register(destination);
      await Promise.all(
        wires.map((wire) =>
          this.client.sendCommand(['XADD', stream, ...trim, '*', ...wireFields(wire)]),
        ),
      );
    } catch (error) {
      throw this.#setupOrUnavailable(stream, error);
    }
  }

  async consume(
    destination: string,
    group: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle> {
    this.#assertOpen();
    const keys = destinationKeys(this.#prefix, destination);
    const streams = [keys.stream, keys.retry(group)] as const;
    try {
      await this.#register(destination);
      for (const stream of streams) await this.#ensureGroup(stream, group);
    } catch (error) {
      throw this.#setupOrUnavailable(keys.stream, error);
    }
    const reader = await openClient(this.url, this.#onError);
    const consumer = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    const claimMinIdleMs = this.options.claimMinIdleMs ?? 30_000;
    const acks = new RedisAckBatch<StreamEntry>(this.client, group, (entry) => loop.settled(entry));
    // One scope per consumer, shared by its deliveries (built per entry, its closures cost
    // more than the entry's own fields).
    const scope: DeliveryScope = {
      client: this.client,
      ack: (entry) => acks.ack(entry),
      group,
      consumer,
      delayedKey: keys.delayed(group),
      deadLetterKey: keys.deadLetters,
      releaseIdleMs: RELEASED_IDLE_MS,
      retryScheduled: (ms) => loop.retryScheduled(ms),
      settled: (e) => loop.settled(e),
      released: () => loop.released(),
    };
    const loop: RedisReadLoop = new RedisReadLoop(
      this.client,
      reader,
      {
        destination,
        group,
        consumer,
        streams,
        delayedKey: keys.delayed(group),
        prefetch: options.prefetch,
        blockMs: this.options.blockMs ?? 5_000,
        claimMinIdleMs,
        claimIntervalMs: this.options.claimIntervalMs ?? Math.ceil(claimMinIdleMs / 3),
        retryPollIntervalMs: this.options.retryPollIntervalMs ?? 500,
        maxDeliveries: this.options.maxDeliveries ?? 100,
        onError: (error) => this.#onError(error),
        recreateGroups: async () => {
          for (const stream of streams) await this.#ensureGroup(stream, group);
        },
      },
      (entry) => new RedisDelivery(entry, scope),
      onDelivery,
    );
    const running = { loop, reader };
    this.#loops.add(running);
    loop.start();
    return {
      stop: async () => {
        await loop.stop();
        this.#loops.delete(running);
        await reader.close().catch(() => undefined);
      },
    };
  }

  /** The dead letters of a destination, oldest first. */
  async listDeadLetters(destination: string): Promise<RedisDeadLetter[]> {
    return this.deadLetterStore.list({ destination });
  }

  /** Deletes a destination's keys: stream, dead letters, and every group's retries. */
  async deleteDestination(destination: string): Promise<void> {
    const keys = destinationKeys(this.#prefix, destination);
    let groups: string[] = [];
    try {
      const info = await this.client.sendCommand<string[][]>(['XINFO', 'GROUPS', keys.stream]);
      groups = info.map((fields) => fields[fields.indexOf('name') + 1]!);
    } catch (error) {
      if (!isReplyError(error, 'ERR')) throw error;
    }
    await this.client.sendCommand([
      'DEL',
      keys.stream,
      keys.deadLetters,
      ...groups.flatMap((g) => [keys.retry(g), keys.delayed(g)]),
    ]);
    await this.client.sendCommand(['SREM', destinationsKey(this.#prefix), destination]);
    this.#known.delete(destination);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const { loop, reader } of this.#loops) {
      loop.close();
      reader.destroy();
    }
    this.#loops.clear();
    await closeClient(this.client);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  /** Remembers the destination for dead-letter listing (once per driver and destination). */
  async #register(destination: string): Promise<void> {
    if (this.#known.has(destination)) return;
    await this.client.sendCommand(['SADD', destinationsKey(this.#prefix), destination]);
    this.#known.add(destination);
  }

  /** Creates the group at the stream's start (and the stream); an existing group is kept. */
  async #ensureGroup(stream: string, group: string): Promise<void> {
    try {
      await this.client.sendCommand(['XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM']);
    } catch (error) {
      if (!isReplyError(error, 'BUSYGROUP')) throw error;
    }
  }

  #setupOrUnavailable(resource: string, error: unknown): unknown {
    if (isReplyError(error, 'WRONGTYPE'))
      return new RedisSetupError(
        resource,
        `Key "${resource}" exists and is not a stream: ${describe(error)} (pick another prefix or delete the key)`,
        { cause: error },
      );
    return unavailable(this.address, error);
  }
}

function warn(error: unknown): void {
  process.emitWarning(`Redis transport: ${describe(error)}`, 'CausewayTransportWarning');
}
