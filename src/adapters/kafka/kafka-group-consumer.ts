import type { WireMessage } from '../../messaging/binary-codec.js';
import type { ConsumerHandle, Delivery } from '../../messaging/transport.js';
import { toDelivery, type KafkaWire } from './kafka-delivery.js';
import { GroupReader, type GroupReaderSettings, type KafkaRecord } from './kafka-group-reader.js';
import type { PartitionOffsets } from './kafka-offsets.js';
import { HEADERS } from './kafka-wire.js';

export interface GroupConsumerSettings {
  /** Deliveries handed out and not yet settled (with a handler, or having their ack produced). */
  prefetch: number;
  /**
   * Deliveries handed out and not yet committed (settled ones wait for the next commit round),
   * at least `prefetch`: what a crash would deliver again.
   */
  maxUncommitted: number;
  main: GroupReaderSettings;
  retry: GroupReaderSettings;
  /** How long a message whose retry or dead letter could not be produced waits to be handed out again. */
  redeliverAfterMs: number;
  publishRetry(wire: KafkaWire): Promise<void>;
  publishDeadLetter(wire: WireMessage): Promise<void>;
}

/**
 * One `consume()` call: a member of the group's consumer group on the destination's topic, and
 * a member of the group's retry consumer group on its retry topic. Both share two bounds: at
 * most `prefetch` unsettled deliveries (what the handlers hold, as on every transport), and at
 * most `maxUncommitted` deliveries not yet covered by a commit. The second bound is separate
 * because a commit is a round trip to the group coordinator that Kafka runs one at a time per
 * member: if settled messages held their prefetch slot until it returned, the handlers would
 * idle for a commit round every `prefetch` messages. A retry that is not due yet pauses only
 * the retry reader, so the destination's partitions never wait behind a backoff.
 */
export class KafkaGroupConsumer implements ConsumerHandle {
  readonly #main: GroupReader;
  readonly #retry: GroupReader;
  /** Handed out and not settled: `stop()` waits for these. */
  #unsettled = 0;
  /**
   * Handed out and not yet committed (or given back): what a crash would deliver again.
   * `maxUncommitted` bounds this, so a killed consumer repeats at most that many handled messages.
   */
  #uncommitted = 0;
  #waiting: NodeJS.Timeout | undefined;
  #stopping = false;
  #drained: (() => void) | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();
  #closing: Promise<void> | undefined;

  constructor(
    private readonly settings: GroupConsumerSettings,
    private readonly onDelivery: (delivery: Delivery) => void,
  ) {
    const committed = (count: number) => {
      this.#uncommitted -= count;
      this.#flow();
    };
    const busy = () => this.#unsettled > 0;
    this.#main = new GroupReader(
      settings.main,
      (record, offsets) => this.#handOut(this.#main, record, offsets),
      committed,
      busy,
    );
    this.#retry = new GroupReader(
      settings.retry,
      (record, offsets) => this.#receiveRetry(record, offsets),
      committed,
      busy,
    );
  }

  async start(): Promise<void> {
    try {
      await Promise.all([this.#main.start(), this.#retry.start()]);
    } catch (error) {
      await Promise.all([this.#main.abort(), this.#retry.abort()]);
      throw error;
    }
  }

  /**
   * Stops handing out deliveries and returns at once: the runtime still settles the ones it
   * holds, so the readers stay in their groups until every delivery is settled or released,
   * commit what was settled, and only then leave (their partitions move on with the right
   * positions).
   */
  stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#waiting);
    this.#flow();
    this.#closing ??= new Promise<void>((resolve) => {
      this.#drained = resolve;
      if (this.#unsettled === 0) resolve();
    }).then(() => Promise.all([this.#main.close(), this.#retry.close()]).then(() => undefined));
    return Promise.resolve();
  }

  /** Resolves once the readers have left their groups (after `stop()` and the last settlement). */
  closed(): Promise<void> {
    return this.#closing ?? Promise.resolve();
  }

  /** The driver is closing: leave now; what is unsettled is redelivered to the next member. */
  async abort(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#waiting);
    for (const timer of this.#timers) clearTimeout(timer);
    await Promise.all([this.#main.abort(), this.#retry.abort()]);
  }

  #receiveRetry(record: KafkaRecord, offsets: PartitionOffsets): void {
    const due = Number(record.headers.get(HEADERS.notBefore) ?? 0);
    const wait = due - Date.now();
    if (!(wait > 0)) return this.#handOut(this.#retry, record, offsets);
    // Not due yet: the retry reader waits (only it), and this record is handed out when due.
    // Records behind it on the retry topic wait too; their delays are bounded by the policy.
    // A waiting record takes no credit, so the destination's topic keeps flowing meanwhile.
    this.#waiting = setTimeout(() => {
      this.#waiting = undefined;
      this.#handOut(this.#retry, record, offsets);
    }, wait);
    this.#flow();
  }

  #handOut(reader: GroupReader, record: KafkaRecord, offsets: PartitionOffsets): void {
    if (this.#stopping) return; // not admitted for good: never committed, read again later
    this.#unsettled++;
    this.#uncommitted++;
    this.#flow();
    this.onDelivery(this.#delivery(reader, record, offsets));
  }

  #delivery(reader: GroupReader, record: KafkaRecord, offsets: PartitionOffsets): Delivery {
    return toDelivery(record, {
      publishRetry: (wire) => this.settings.publishRetry(wire),
      publishDeadLetter: (wire) => this.settings.publishDeadLetter(wire),
      settled: () => {
        this.#unsettled--;
        reader.settle(offsets, record.offset);
        this.#flow();
      },
      released: () => this.#release(),
      failed: () => {
        // The broker did not take the retry or dead letter: keep the slot, try again later.
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          if (this.#stopping || offsets.revoked) return this.#release();
          this.onDelivery(this.#delivery(reader, record, offsets));
        }, this.settings.redeliverAfterMs);
        this.#timers.add(timer);
      },
    });
  }

  /** Given back (or never to be handed out again): neither settled nor committed here. */
  #release(): void {
    this.#unsettled--;
    this.#uncommitted--;
    this.#flow();
  }

  #flow(): void {
    if (this.#stopping && this.#unsettled === 0) this.#drained?.();
    const full =
      this.#stopping ||
      this.#unsettled >= this.settings.prefetch ||
      this.#uncommitted >= this.settings.maxUncommitted;
    this.#main.setPaused(full);
    this.#retry.setPaused(full || this.#waiting !== undefined);
  }
}
