import type { Channel, ConfirmChannel } from 'amqplib';
import { isCausewayError, StoreClosedError, StoreUnavailableError } from '../../core/errors.js';
import type { Message } from '../../messaging/message.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  TransportDriver,
} from '../../messaging/transport.js';
import { RabbitMqConnection } from './rabbitmq-connection.js';
import { DeclaredTopology, queueExists } from './rabbitmq-declared.js';
import { RabbitMqDeadLetterStore, type RabbitMqDeadLetter } from './rabbitmq-dead-letters.js';
import { createDelivery, type DeliveryContext, type Send } from './rabbitmq-delivery.js';
import {
  DEAD_LETTER_QUEUE_ARGUMENTS,
  groupQueueArguments,
  rabbitMqNames,
  retryQueueArguments,
  type RabbitMqNames,
} from './rabbitmq-topology.js';
import { deadLetterRoute, toPublish } from './rabbitmq-wire.js';

export interface RabbitMqTransportOptions {
  /** Default: `CAUSEWAY_AMQP_URL`, else `amqp://guest:guest@127.0.0.1:5672`. */
  url?: string;
  /** Prefix of every exchange and queue name. Default `causeway`. */
  prefix?: string;
  /**
   * Deliveries of one message that were never settled (its consumer crashed or lost the
   * connection) before the broker dead-letters it as poison. Default 20.
   */
  deliveryLimit?: number;
  /**
   * Only one consumer of a group receives messages at a time (the others are hot standbys).
   * Gives strict per-key order across processes at the cost of spreading work. Default false:
   * competing consumers share the queue round-robin, and per-key order holds within each one.
   */
  singleActiveConsumer?: boolean;
}

/** One `consume` call, kept so it can resume on a new connection after a broker restart. */
interface Registration {
  destination: string;
  group: string;
  prefetch: number;
  onDelivery: (delivery: Delivery) => void;
  stopped: boolean;
  channel: Channel | undefined;
  consumerTag: string | undefined;
  closeWhenIdle?: () => void;
}

/** How long an asserted retry bucket is trusted before it is declared again (keeps it alive). */
const REASSERT_RETRY_QUEUE_MS = 60_000;

/**
 * The RabbitMQ transport (`amqplib` 2.x). A destination is a durable topic exchange; each
 * consumer group is a durable quorum queue bound to it. Publishing waits for publisher
 * confirms of every message, many in flight at once. Retries go through TTL queues that
 * dead-letter back into the group's queue: the copy is confirmed before the original is
 * acked, so a crash between the two can only duplicate, never lose. Dead letters go to one
 * queue per prefix with the failure as a header; the broker's delivery limit catches messages
 * that crash their consumer every time. After a lost connection it reconnects by itself and
 * resumes every consumer; unsettled deliveries come back from the broker (at-least-once).
 *
 * Per-key order: the consumer runtime keeps it within one consumer. Several consumers of one
 * group receive round-robin, so the same key may run on two of them at once; set
 * `singleActiveConsumer` when order across processes matters more than spreading the load.
 */
export class RabbitMqTransportDriver implements TransportDriver {
  readonly kind = 'rabbitmq';
  readonly names: RabbitMqNames;
  /** The operator's access to dead letters (list, show, retry, purge); see `DeadLetterManager`. */
  readonly deadLetterStore: RabbitMqDeadLetterStore;
  readonly #link: RabbitMqConnection;
  readonly #deliveryLimit: number;
  readonly #singleActiveConsumer: boolean;
  readonly #asserted = new Map<string, number>();
  readonly #declared = new DeclaredTopology();
  readonly #consumers = new Set<Registration>();
  readonly #context: DeliveryContext;
  #publisher: Promise<ConfirmChannel> | undefined;
  private constructor(link: RabbitMqConnection, options: RabbitMqTransportOptions) {
    this.#link = link;
    this.names = rabbitMqNames(options.prefix ?? 'causeway');
    this.#context = {
      names: this.names,
      guard: (work) => this.#guard(work),
      assertRetryQueue: (queue, groupQueue, bucketMs) =>
        this.#assertRetryQueue(queue, groupQueue, bucketMs),
      confirmedPublish: (sends) => this.#confirmedPublish(sends),
    };
    this.#deliveryLimit = options.deliveryLimit ?? 20;
    this.#singleActiveConsumer = options.singleActiveConsumer ?? false;
    this.deadLetterStore = new RabbitMqDeadLetterStore(
      () => this.#link.current(),
      () => this.#publisherChannel(),
      this.names,
      this.#deliveryLimit,
      (work) => this.#guard(work),
    );
    link.onReconnect(() => {
      this.#asserted.clear();
      for (const registration of this.#consumers) void this.#resume(registration);
    });
  }

  /** Connects to the broker; an unreachable broker is a `StoreUnavailableError`. */
  static async connect(options: RabbitMqTransportOptions = {}): Promise<RabbitMqTransportDriver> {
    const url =
      options.url ?? process.env['CAUSEWAY_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
    return new RabbitMqTransportDriver(await RabbitMqConnection.open(url, redact(url)), options);
  }

  async publish(destination: string, messages: readonly Message[]): Promise<void> {
    await this.#guard(async () => {
      const exchange = this.names.exchange(destination);
      await this.#assertExchange(exchange);
      await this.#confirmedPublish(
        messages.map((message) => {
          const { body, options } = toPublish(message);
          return { exchange, routingKey: message.type, body, options };
        }),
      );
    });
  }

  async consume(
    destination: string,
    group: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle> {
    const registration: Registration = {
      destination,
      group,
      prefetch: options.prefetch,
      onDelivery,
      stopped: false,
      channel: undefined,
      consumerTag: undefined,
    };
    await this.#guard(() => this.#start(registration));
    this.#consumers.add(registration);
    return {
      stop: async () => {
        if (registration.stopped) return;
        this.#consumers.delete(registration);
        const { channel, consumerTag } = registration;
        if (channel && consumerTag) await channel.cancel(consumerTag).catch(() => undefined);
        registration.stopped = true;
        registration.closeWhenIdle?.();
      },
    };
  }

  /** Declares the group's topology and starts consuming on a channel of its own. */
  async #start(registration: Registration): Promise<void> {
    const { destination, group } = registration;
    const queue = this.names.queue(destination, group);
    await this.#assertExchange(this.names.exchange(destination));
    const channel = await this.#link.current().createChannel();
    channel.on('error', () => undefined); // settling on a dead channel throws to the runtime
    await this.#assertDeadLetters(channel);
    await channel.assertQueue(queue, {
      durable: true,
      arguments: groupQueueArguments(
        {
          exchange: this.names.deadLetterExchange(),
          routingKey: deadLetterRoute(destination, group),
        },
        {
          deliveryLimit: this.#deliveryLimit,
          singleActiveConsumer: this.#singleActiveConsumer,
        },
      ),
    });
    await channel.bindQueue(queue, this.names.exchange(destination), '#');
    this.#declared.group(destination, group, queue);
    await channel.prefetch(registration.prefetch);

    let unsettled = 0;
    const closeWhenIdle = () => {
      if (registration.stopped && unsettled === 0) void channel.close().catch(() => undefined);
    };
    const { consumerTag } = await channel.consume(
      queue,
      (raw) => {
        if (raw === null) return; // cancelled by the broker (queue deleted)
        unsettled++;
        registration.onDelivery(
          createDelivery(this.#context, channel, raw, destination, group, () => {
            unsettled--;
            closeWhenIdle();
          }),
        );
      },
      { noAck: false },
    );
    registration.channel = channel;
    registration.consumerTag = consumerTag;
    registration.closeWhenIdle = closeWhenIdle;
  }

  /** After a reconnect: consume again, retrying while the broker is still coming up. */
  async #resume(registration: Registration): Promise<void> {
    for (
      let delay = 100;
      !registration.stopped && !this.#link.closed;
      delay = Math.min(delay * 2, 5_000)
    ) {
      try {
        await this.#start(registration);
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }

  /** The dead letters of a destination (every group), oldest first, left in place. */
  async listDeadLetters(destination: string): Promise<RabbitMqDeadLetter[]> {
    return this.deadLetterStore.list({ destination });
  }

  /** Every exchange and queue this driver declared (for cleanup in tests and tools). */
  topology(): { exchanges: string[]; queues: string[] } {
    return { exchanges: [...this.#declared.exchanges], queues: [...this.#declared.queues] };
  }

  /**
   * Deletes a destination: its exchange, the queue of every group (`groups` and those consumed
   * through this driver), the retry buckets this driver declared for them, and the
   * destination's letters in the prefix's shared dead-letter queue. Idempotent: a missing
   * queue or exchange is skipped. Stop the destination's consumers first; one still running
   * here is dropped without a word (the broker cancels it with its queue).
   *
   * Without the management API nobody can list the queues another process declared, hence
   * `groups`. Retry buckets another process declared stay until their `x-expires` (10 minutes
   * after their last use); what they hold is dropped when it expires, as its group queue is gone.
   */
  async deleteDestination(destination: string, groups: readonly string[] = []): Promise<void> {
    await this.#guard(async () => {
      const all = new Set([...groups, ...this.#declared.groupsOf(destination)]);
      const channel = await this.#link.current().createChannel();
      channel.on('error', () => undefined); // the failing call reports it
      try {
        const deleted = await this.#declared.deleteDestination(
          channel,
          this.names,
          destination,
          all,
        );
        for (const name of deleted) this.#asserted.delete(name);
      } finally {
        await channel.close().catch(() => undefined);
      }
      for (const registration of this.#consumers) {
        if (registration.destination !== destination) continue;
        registration.stopped = true;
        this.#consumers.delete(registration);
        // The broker cancelled its consumer with the queue; its channel closes once the
        // deliveries it still holds are settled (its handle's stop() will find it stopped).
        registration.closeWhenIdle?.();
      }
      // Reading the letters declares the shared queue: skip it when there is none.
      if (await queueExists(this.#link.current(), this.names.deadLetterQueue()))
        await this.deadLetterStore.purge({ destination });
    });
  }

  /**
   * Deletes the prefix's shared dead-letter queue, with every letter still in it, and its
   * exchange. For when every destination of the prefix is deleted: a group queue that still
   * exists would dead-letter into an exchange that is gone. Idempotent.
   */
  async deleteDeadLetterQueue(): Promise<void> {
    await this.#guard(async () => {
      const channel = await this.#link.current().createChannel();
      channel.on('error', () => undefined);
      try {
        await channel.deleteQueue(this.names.deadLetterQueue());
        await channel.deleteExchange(this.names.deadLetterExchange());
      } finally {
        await channel.close().catch(() => undefined);
      }
      for (const name of [this.names.deadLetterQueue(), this.names.deadLetterExchange()]) {
        this.#asserted.delete(name);
        this.#declared.forget(name);
      }
    });
  }

  async close(): Promise<void> {
    if (this.#link.closed) return;
    this.#consumers.clear();
    await this.#link.close();
  }

  /** Publishes every message at once and resolves when the broker confirmed them all. */
  async #confirmedPublish(sends: readonly Send[]): Promise<void> {
    const channel = await this.#publisherChannel();
    const confirms: Promise<void>[] = [];
    for (const send of sends) {
      let writable = true;
      confirms.push(
        new Promise<void>((resolve, reject) => {
          writable = channel.publish(
            send.exchange,
            send.routingKey,
            send.body,
            send.options,
            (error) =>
              error ? reject(asError(error, 'the broker refused a message (nack)')) : resolve(),
          );
        }),
      );
      if (!writable) await drained(channel);
    }
    await Promise.all(confirms);
  }

  #publisherChannel(): Promise<ConfirmChannel> {
    if (this.#link.closed) return Promise.reject(new StoreClosedError());
    this.#publisher ??= Promise.resolve()
      .then(() => this.#link.current().createConfirmChannel())
      .then(
        (channel) => {
          channel.on('error', () => undefined); // each pending publish rejects with it
          channel.on('close', () => {
            this.#publisher = undefined;
            this.#asserted.clear();
          });
          return channel;
        },
        (error: unknown) => {
          this.#publisher = undefined;
          throw error;
        },
      );
    return this.#publisher;
  }

  async #assertExchange(exchange: string): Promise<void> {
    if (this.#asserted.has(exchange)) return;
    const channel = await this.#publisherChannel();
    await channel.assertExchange(exchange, 'topic', { durable: true });
    this.#asserted.set(exchange, Date.now());
    this.#declared.exchanges.add(exchange);
  }

  /** Declared again now and then: a bucket left unused for a while deletes itself. */
  async #assertRetryQueue(queue: string, groupQueue: string, bucketMs: number): Promise<void> {
    const last = this.#asserted.get(queue);
    if (last !== undefined && Date.now() - last < REASSERT_RETRY_QUEUE_MS) return;
    const channel = await this.#publisherChannel();
    await channel.assertQueue(queue, {
      durable: true,
      arguments: retryQueueArguments(groupQueue, bucketMs),
    });
    this.#asserted.set(queue, Date.now());
    this.#declared.retryQueue(groupQueue, queue);
  }

  /** The shared dead-letter exchange and queue; declared by consumers, before any letter. */
  async #assertDeadLetters(channel: Channel): Promise<void> {
    const exchange = this.names.deadLetterExchange();
    const queue = this.names.deadLetterQueue();
    await channel.assertExchange(exchange, 'fanout', { durable: true });
    await channel.assertQueue(queue, { durable: true, arguments: DEAD_LETTER_QUEUE_ARGUMENTS });
    await channel.bindQueue(queue, exchange, '');
    this.#declared.exchanges.add(exchange);
    this.#declared.queues.add(queue);
  }

  /** Runs broker work; a failure that is not already typed becomes `StoreUnavailableError`. */
  async #guard<T>(work: () => Promise<T>): Promise<T> {
    if (this.#link.closed) throw new StoreClosedError();
    try {
      return await work();
    } catch (error) {
      if (isCausewayError(error)) throw error;
      throw new StoreUnavailableError(this.#link.address, {
        cause: this.#link.lastError ?? error,
      });
    }
  }
}

function drained(channel: ConfirmChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      channel.off('drain', done);
      channel.off('close', done);
      resolve();
    };
    channel.on('drain', done);
    channel.on('close', done);
  });
}

function asError(value: unknown, fallback: string): Error {
  return value instanceof Error ? value : new Error(fallback);
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured AMQP URL';
  }
}
