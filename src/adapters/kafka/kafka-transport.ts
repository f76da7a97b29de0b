import {
  Admin,
  compatibilityPartitioner,
  Consumer,
  Producer,
  stringSerializers,
  type ConnectionOptions,
} from '@platformatic/kafka';
import { StoreUnavailableError, ValidationError } from '../../core/errors.js';
import { encodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { Message } from '../../messaging/message.js';
import type {
  ConsumeOptions,
  ConsumerHandle,
  Delivery,
  TransportDriver,
} from '../../messaging/transport.js';
import { KafkaDeadLetterStore, newDeadLetterId } from './kafka-dead-letters.js';
import type { KafkaWire } from './kafka-delivery.js';
import { KafkaGroupConsumer } from './kafka-group-consumer.js';
import { SerialProducer } from './kafka-producer.js';
import type { GroupReaderSettings } from './kafka-group-reader.js';
import { closeNow, describe, ensureTopic, KafkaNames } from './kafka-topology.js';
import { CE_PREFIX } from './kafka-wire.js';

export interface KafkaTransportOptions {
  /** Bootstrap brokers, `host:port`. Default `127.0.0.1:9092`. */
  brokers?: string | string[];
  /** Prefix of every topic and consumer group the driver creates. Default `causeway`. */
  prefix?: string;
  /** Client id the broker sees (quotas, logs). Default `causeway`. */
  clientId?: string;
  /** Partitions of the topics the driver creates (the group's parallelism across processes). Default 6. */
  partitions?: number;
  /** Replication factor of the topics it creates. Default -1: the broker's `default.replication.factor`. */
  replicas?: number;
  /** Further configuration of the destination and retry topics it creates (`retention.ms`, …). */
  topicConfigs?: Record<string, string>;
  /** TLS / SASL and other connection settings, passed to every client. */
  connection?: Omit<ConnectionOptions, 'connectTimeout'>;
  /** A member that misses heartbeats this long is removed from its group. Default 30 s. */
  sessionTimeoutMs?: number;
  /** Heartbeats, which is also how soon a member notices a rebalance. Default 3 s. */
  heartbeatIntervalMs?: number;
  /** How long a rebalance waits for members to rejoin. Default 60 s. */
  rebalanceTimeoutMs?: number;
  /**
   * Per consumer, how many handed-out messages may wait for their offset commit (settled ones
   * included): what a `kill -9` delivers again at most. Handlers keep going while a commit round
   * is on its way to the group coordinator, as long as this leaves room; the consumer's
   * `prefetch` still bounds the messages its handlers hold. Raised to `prefetch` when lower.
   * Default 1,000.
   */
  maxUncommitted?: number;
  /** How long a fetch waits on the broker for new messages. Default 1 s. */
  maxWaitMs?: number;
  /** Failures the driver recovers from by itself (disconnects, failed commits). Default: a process warning. */
  onError?: (error: unknown) => void;
}

const PUBLISH_BATCH = 1_000;
const CLOSE_GRACE_MS = 10_000;

/**
 * Kafka transport. Each destination is a topic (`<prefix>.<destination>`) whose messages are
 * keyed by their partition key, so a key always lands on one partition and keeps its order;
 * each group is a Kafka consumer group reading it with manual commits. A message is committed
 * only once it is settled, and a partition's commit never passes an unsettled message.
 *
 * Retries go to the group's retry topic (`<topic>.retry.<group>`) with the attempt, the first
 * failure time and a not-before time in headers; a separate consumer group reads it and waits
 * for each retry's time, so a backoff never holds up the destination's partitions. Dead letters
 * go to the compacted `<topic>.dlq` topic (see `KafkaDeadLetterStore`).
 *
 * Per-key order holds across processes: a partition belongs to one member of the group at a
 * time. The producer is idempotent with `acks=all`: `publish` resolves once every in-sync
 * replica has the messages, and a retried send is never written twice.
 */
export class KafkaTransportDriver implements TransportDriver {
  readonly kind = 'kafka';
  /** Plugs into `DeadLetterManager`: list, show, retry (for the letter's group only), purge. */
  readonly deadLetterStore: KafkaDeadLetterStore;
  /** The names of the topics and groups this driver uses. */
  readonly names: KafkaNames;
  readonly #consumers = new Set<KafkaGroupConsumer>();
  readonly #topics = new Map<string, Promise<void>>();
  readonly #brokers: string[];
  readonly #producer: SerialProducer;

  private constructor(
    private readonly options: KafkaTransportOptions,
    brokers: string[],
    private readonly admin: Admin,
    private readonly producer: Producer<string, string, string, string>,
    private readonly reader: Consumer<string, string, string, string>,
  ) {
    this.#brokers = brokers;
    this.#producer = new SerialProducer(producer, brokers.join(','));
    this.names = new KafkaNames(options.prefix ?? 'causeway');
    this.deadLetterStore = new KafkaDeadLetterStore(
      this.names,
      admin,
      reader,
      this.#producer,
      async (destination, group, wire, key) => {
        const topic = this.names.retryTopic(destination, group);
        await this.#ensure(topic, this.#topicSettings());
        await this.#send(topic, [{ ...wire, key }]);
      },
    );
  }

  /**
   * Connects (checking the brokers answer); a wrong address is a `StoreUnavailableError`, an
   * option out of range a `ValidationError` naming it.
   */
  static async connect(options: KafkaTransportOptions = {}): Promise<KafkaTransportDriver> {
    const { maxUncommitted } = options;
    if (
      maxUncommitted !== undefined &&
      !(Number.isSafeInteger(maxUncommitted) && maxUncommitted >= 1)
    )
      throw new ValidationError('Invalid Kafka transport options', [
        { path: ['maxUncommitted'], message: `must be an integer >= 1, got ${maxUncommitted}` },
      ]);
    const brokers = [options.brokers ?? '127.0.0.1:9092'].flat();
    const base = {
      clientId: options.clientId ?? 'causeway',
      bootstrapBrokers: brokers,
      ...options.connection,
    };
    const names = new KafkaNames(options.prefix ?? 'causeway');
    const admin = new Admin(base);
    let roundRobin = 0;
    const producer = new Producer<string, string, string, string>({
      ...base,
      serializers: stringSerializers,
      idempotent: true,
      acks: -1,
      // Keyed: Java's partitioner, so other clients put a key on the same partition. Keyless:
      // spread evenly, so every member of a group gets work.
      partitioner: (message, key) =>
        key ? compatibilityPartitioner(message, key) : (roundRobin = (roundRobin + 1) % 1_000_000),
    });
    const reader = new Consumer<string, string, string, string>({
      ...base,
      groupId: `${names.prefix}.dead-letter-reader`,
    });
    const driver = new KafkaTransportDriver(options, brokers, admin, producer, reader);
    for (const client of [admin, producer, reader])
      client.on('error', (error: unknown) => driver.#onError(error));
    try {
      await admin.metadata({ topics: [] });
    } catch (cause) {
      await driver.#closeClients();
      throw new StoreUnavailableError(brokers.join(','), { cause });
    }
    return driver;
  }

  async publish(destination: string, messages: readonly Message[]): Promise<void> {
    await this.publishRaw(
      destination,
      messages.map((m) => ({ ...encodeBinary(m, CE_PREFIX), key: m.partitionkey })),
    );
  }

  /** Publishes already-encoded messages (a foreign producer's, a replay); `key` is the Kafka key. */
  async publishRaw(
    destination: string,
    wires: readonly (WireMessage & { key?: string | undefined })[],
  ): Promise<void> {
    const topic = this.names.topic(destination);
    await this.#ensure(topic, this.#topicSettings());
    await this.#send(
      topic,
      wires.map((w) => ({ headers: w.headers, body: w.body, key: w.key })),
    );
  }

  async consume(
    destination: string,
    group: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle> {
    const topic = this.names.topic(destination);
    const retryTopic = this.names.retryTopic(destination, group);
    const deadLetterTopic = this.names.deadLetterTopic(destination);
    await Promise.all([
      this.#ensure(topic, this.#topicSettings()),
      this.#ensure(retryTopic, this.#topicSettings()),
      this.#ensure(deadLetterTopic, {
        partitions: 1,
        replicas: this.options.replicas ?? -1,
        configs: { 'cleanup.policy': 'compact' },
      }),
    ]);
    const reader = (groupId: string, readTopic: string): GroupReaderSettings => ({
      brokers: this.#brokers,
      clientId: this.options.clientId ?? 'causeway',
      ...(this.options.connection ? { connection: this.options.connection } : {}),
      groupId,
      topic: readTopic,
      buffer: Math.max(options.prefetch, 16),
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? 30_000,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 3_000,
      rebalanceTimeoutMs: this.options.rebalanceTimeoutMs ?? 60_000,
      maxWaitMs: this.options.maxWaitMs ?? 1_000,
      onError: (error) => this.#onError(error, `${destination}/${group}`),
    });
    const consumer = new KafkaGroupConsumer(
      {
        prefetch: options.prefetch,
        maxUncommitted: Math.max(options.prefetch, this.options.maxUncommitted ?? 1_000),
        main: reader(this.names.groupId(destination, group), topic),
        retry: reader(this.names.retryGroupId(destination, group), retryTopic),
        redeliverAfterMs: 1_000,
        publishRetry: (wire) => this.#send(retryTopic, [wire]),
        publishDeadLetter: (wire) =>
          this.#send(deadLetterTopic, [{ ...wire, key: newDeadLetterId() }], 0),
      },
      onDelivery,
    );
    await consumer.start();
    this.#consumers.add(consumer);
    return {
      stop: async () => {
        await consumer.stop();
        void consumer.closed().finally(() => this.#consumers.delete(consumer));
      },
    };
  }

  /** Deletes a destination's topics (messages, retries of every group, dead letters) and its groups. */
  async deleteDestination(destination: string): Promise<void> {
    const topic = this.names.topic(destination);
    const topics = (await this.admin.listTopics()).filter(
      (t) => t === topic || t.startsWith(`${topic}.retry.`) || t === `${topic}.dlq`,
    );
    if (topics.length > 0) await this.admin.deleteTopics({ topics });
    const groups = [...(await this.admin.listGroups()).keys()].filter((g) =>
      g.startsWith(`${topic}.`),
    );
    if (groups.length > 0) await this.admin.deleteGroups({ groups }).catch(() => undefined);
    for (const name of topics) this.#topics.delete(name);
  }

  /**
   * Consumers that were stopped get a grace period to settle, commit and leave their groups;
   * the rest leave at once (what they held is redelivered to the group's next member).
   */
  async close(): Promise<void> {
    const consumers = [...this.#consumers];
    this.#consumers.clear();
    await Promise.all(
      consumers.map(async (consumer) => {
        let timer: NodeJS.Timeout | undefined;
        const graceful = await Promise.race([
          consumer.closed().then(() => true),
          new Promise<false>(
            (resolve) => (timer = setTimeout(() => resolve(false), CLOSE_GRACE_MS)),
          ),
        ]);
        clearTimeout(timer);
        if (!graceful) await consumer.abort();
      }),
    );
    await this.#closeClients();
  }

  async #closeClients(): Promise<void> {
    await Promise.allSettled([this.producer.close(), this.admin.close(), closeNow(this.reader)]);
  }

  async #send(topic: string, wires: readonly KafkaWire[], partition?: number): Promise<void> {
    const messages = wires.map((w) => ({
      topic,
      value: w.body,
      headers: w.headers,
      ...(w.key === undefined ? {} : { key: w.key }),
      ...(partition === undefined ? {} : { partition }),
    }));
    for (let start = 0; start < messages.length; start += PUBLISH_BATCH)
      await this.#producer.send(messages.slice(start, start + PUBLISH_BATCH));
  }

  #topicSettings() {
    return {
      partitions: this.options.partitions ?? 6,
      replicas: this.options.replicas ?? -1,
      ...(this.options.topicConfigs ? { configs: this.options.topicConfigs } : {}),
    };
  }

  /** Creates each topic once per driver; a failed attempt is retried next time. */
  #ensure(topic: string, settings: Parameters<typeof ensureTopic>[2]): Promise<void> {
    let ready = this.#topics.get(topic);
    if (!ready) {
      ready = ensureTopic(this.admin, topic, settings, this.#brokers.join(','));
      ready.catch(() => this.#topics.delete(topic));
      this.#topics.set(topic, ready);
    }
    return ready;
  }

  #onError(error: unknown, where?: string): void {
    if (this.options.onError) return this.options.onError(error);
    process.emitWarning(
      `Kafka transport${where ? ` ${where}` : ''}: ${describe(error)}`,
      'CausewayTransportWarning',
    );
  }
}
