import { StoreClosedError } from '../../core/errors.js';
import { encodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { Message } from '../../messaging/message.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  TransportDriver,
} from '../../messaging/transport.js';
import { PulsarAdmin } from './pulsar-admin.js';
import { PulsarConsumerLoop } from './pulsar-consumer.js';
import { PulsarDeadLetterStore } from './pulsar-dead-letters.js';
import { toDelivery } from './pulsar-delivery.js';
import { PulsarProducer } from './pulsar-socket.js';
import {
  belongsTo,
  DEAD_LETTER_SUBSCRIPTION,
  deadLetterTopic,
  retryTopic,
} from './pulsar-topics.js';
import { CE_PREFIX, toOutgoing } from './pulsar-wire.js';

export interface PulsarTransportOptions {
  /** The broker's web service (admin REST and WebSocket API). Default `http://127.0.0.1:8080`. */
  url?: string;
  /** Tenant and namespace of every topic. Default `public/default`. */
  tenant?: string;
  namespace?: string;
  /**
   * Redeliveries (negative acks, ack timeouts) after which Pulsar's own dead-letter policy
   * moves a message to the group's dead-letter topic. Default 100.
   */
  maxRedeliveries?: number;
  /**
   * Redeliver a delivery not settled within this time (Pulsar's ack timeout; counts as an
   * attempt). Off by default: a handler may legitimately run long, and a crashed process's
   * messages are redelivered when its connection drops anyway.
   */
  ackTimeoutMs?: number;
  /** Connection failures while consumers reconnect (default: a process warning). */
  onError?: (error: unknown) => void;
}

/**
 * Pulsar transport over the broker's WebSocket API (`ws` is the only driver needed, no native
 * client). Each destination is a persistent topic; each group a durable `Key_Shared`
 * subscription, created at the topic's first message, so a group's processes share the
 * messages and every key stays on one process at a time: per-key order holds across processes.
 *
 * Publishing resolves on the broker's send receipts (stored by the bookie). Retries go to the
 * group's `<destination>-<group>-RETRY` topic with a broker-side delay (`deliverAfterMs`), which
 * each consumer also reads; dead letters go to `<destination>-<group>-DLQ` with the failure as
 * properties, confirmed before the original is acked. CloudEvents attributes travel as message
 * properties (`ce_` prefix, binary mode); the partition key is Pulsar's message key.
 *
 * Acks over the WebSocket API carry no receipt: an ack lost with its connection means the
 * message is delivered again (at-least-once; de-duplicate with an inbox).
 */
export class PulsarTransportDriver implements TransportDriver {
  readonly kind = 'pulsar';
  /** Plugs into `DeadLetterManager`: list, show, retry (for the letter's group only), purge. */
  readonly deadLetterStore: PulsarDeadLetterStore;
  readonly #admin: PulsarAdmin;
  readonly #wsBase: string;
  readonly #producers = new Map<string, Promise<PulsarProducer>>();
  readonly #loops = new Set<PulsarConsumerLoop>();
  #closed = false;

  private constructor(
    readonly url: string,
    private readonly options: PulsarTransportOptions,
  ) {
    this.#admin = new PulsarAdmin(url, options.tenant ?? 'public', options.namespace ?? 'default');
    this.#wsBase = `${url.replace(/^http/, 'ws')}/ws/v2`;
    this.deadLetterStore = new PulsarDeadLetterStore({
      admin: this.#admin,
      wsBase: this.#wsBase,
      publish: (topic, wires) => this.#publishTo(topic, wires),
      maxRedeliveries: this.#maxRedeliveries,
    });
  }

  /** Checks that the broker answers and the namespace exists, then returns the driver. */
  static async connect(options: PulsarTransportOptions = {}): Promise<PulsarTransportDriver> {
    const url = (options.url ?? 'http://127.0.0.1:8080').replace(/^ws/, 'http').replace(/\/+$/, '');
    const driver = new PulsarTransportDriver(url, options);
    await driver.#admin.listTopics();
    return driver;
  }

  get #maxRedeliveries(): number {
    return this.options.maxRedeliveries ?? 100;
  }

  async publish(destination: string, messages: readonly Message[]): Promise<void> {
    await this.publishRaw(
      destination,
      messages.map((m) => encodeBinary(m, CE_PREFIX)),
    );
  }

  /** Publishes already-encoded messages (properties = headers) and waits for every receipt. */
  publishRaw(destination: string, wires: readonly WireMessage[]): Promise<void> {
    return this.#publishTo(destination, wires);
  }

  async consume(
    destination: string,
    group: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle> {
    const retry = retryTopic(destination, group);
    const dlq = deadLetterTopic(destination, group);
    // Subscriptions start at the first message still stored, also for a new group; the
    // dead-letter topic's must exist before its first letter, or listing would miss it.
    await Promise.all([
      this.#admin.ensureSubscription(destination, group),
      this.#admin.ensureSubscription(retry, group),
      this.#admin.ensureSubscription(dlq, DEAD_LETTER_SUBSCRIPTION),
    ]);
    const onError =
      this.options.onError ??
      ((error: unknown) =>
        process.emitWarning(
          `Pulsar consumer ${destination}/${group}: ${error instanceof Error ? error.message : String(error)}`,
          'CausewayTransportWarning',
        ));
    const scope = {
      publishRetry: (wire: WireMessage, delayMs: number) =>
        this.#publishTo(retry, [wire], delayMs, {
          'causeway-destination': destination,
          'causeway-group': group,
        }),
      publishDeadLetter: (wire: WireMessage) => this.#publishTo(dlq, [wire]),
    };
    const query = new URLSearchParams({
      subscriptionType: 'Key_Shared',
      pullMode: 'true',
      maxRedeliverCount: String(this.#maxRedeliveries),
      deadLetterTopic: `persistent://${this.#admin.topicPath(dlq).slice('persistent/'.length)}`,
    });
    if (this.options.ackTimeoutMs !== undefined)
      query.set('ackTimeoutMillis', String(this.options.ackTimeoutMs));
    // Retries get a smaller window of their own: they are the exception, and the runtime's
    // prefetch is mostly meant for first deliveries.
    const windows: [string, number][] = [
      [destination, options.prefetch],
      [retry, Math.max(1, Math.ceil(options.prefetch / 4))],
    ];
    const loops = windows.map(([topic, prefetch]) => {
      const params = new URLSearchParams(query);
      params.set('receiverQueueSize', String(prefetch));
      return new PulsarConsumerLoop(
        {
          url: `${this.#wsBase}/consumer/${this.#admin.topicPath(topic)}/${encodeURIComponent(group)}?${params}`,
          address: this.url,
          prefetch,
          describe: `${topic}/${group}`,
          onError,
        },
        (incoming, link) => toDelivery(incoming, link, scope),
        onDelivery,
      );
    });
    try {
      await Promise.all(loops.map((loop) => loop.start()));
    } catch (error) {
      for (const loop of loops) loop.close();
      throw error;
    }
    for (const loop of loops) this.#loops.add(loop);
    return {
      stop: async () => {
        for (const loop of loops) {
          loop.stop();
          this.#loops.delete(loop);
        }
      },
    };
  }

  /** The dead letters of a destination (all its groups), oldest first. */
  listDeadLetters(destination: string) {
    return this.deadLetterStore.list({ destination });
  }

  /** Deletes a destination's topic and its groups' retry and dead-letter topics. */
  async deleteDestination(destination: string): Promise<void> {
    const topics = (await this.#admin.listTopics()).filter((t) => belongsTo(t, destination));
    for (const topic of topics) await this.#admin.deleteTopic(topic);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const loop of this.#loops) loop.close();
    this.#loops.clear();
    const producers = [...this.#producers.values()];
    this.#producers.clear();
    for (const producer of await Promise.allSettled(producers))
      if (producer.status === 'fulfilled') producer.value.close();
  }

  async #publishTo(
    topic: string,
    wires: readonly WireMessage[],
    deliverAfterMs?: number,
    properties?: Record<string, string>,
  ): Promise<void> {
    if (wires.length === 0) return;
    const producer = await this.#producer(topic);
    await producer.send(
      wires.map(
        (wire) => (context: string) =>
          toOutgoing(wire, context, {
            ...(properties === undefined ? {} : { properties }),
            ...(deliverAfterMs === undefined ? {} : { deliverAfterMs }),
          }),
      ),
    );
  }

  /** One producer per topic, opened on first use and again after its connection dropped. */
  #producer(topic: string): Promise<PulsarProducer> {
    if (this.#closed) return Promise.reject(new StoreClosedError());
    let ready = this.#producers.get(topic);
    if (!ready) {
      const opening: Promise<PulsarProducer> = PulsarProducer.open(
        this.#wsBase,
        this.#admin.topicPath(topic),
        topic,
        this.url,
        () => {
          if (this.#producers.get(topic) === opening) this.#producers.delete(topic);
        },
      );
      ready = opening;
      ready.catch(() => {
        if (this.#producers.get(topic) === opening) this.#producers.delete(topic);
      });
      this.#producers.set(topic, ready);
    }
    return ready;
  }
}
