import { ValidationError } from '../../core/errors.js';
import type { Message } from '../../messaging/message.js';
import type { ConsumerHandle, Delivery, TransportDriver } from '../../messaging/transport.js';
import type { SourceReadOptions, StreamSource } from '../ports.js';
import { recordFromMessage, type StreamRecord } from '../record.js';
import { Handoff } from './handoff.js';

export interface TransportSourceOptions<K = string | null> {
  /** The topology's source name; positions read `<name>:<message id>`. */
  name: string;
  driver: TransportDriver;
  destination: string;
  /** The consumer group: processes running the same topology share the destination's messages. */
  group: string;
  /**
   * Deliveries held unacknowledged at once (default 1 000). A delivery is acknowledged only
   * after the commit that holds its effects, so keep this above the task's `commitEvery`, or
   * the broker stops delivering until the commit interval passes.
   */
  prefetch?: number;
  /** The record's key; the message's `partitionkey`, then `subject`, then `null` by default. */
  key?: (message: Message) => K;
  /** The record's event time (epoch ms); the envelope's `time` by default. */
  timestamp?: (message: Message) => number;
}

/**
 * A transport destination as a stream, through the broker's consumer group. Deliveries are
 * acknowledged only after the commit that includes their effects (`acknowledge`), so a crash
 * before it gets them delivered again; a crash between the commit and the acknowledgement
 * gets them delivered again too, and the task skips them by their message id
 * (`redeliveryId`), which it remembers in the committed state. Undecodable messages are
 * dead-lettered on the broker with the reason `undecodable`.
 *
 * A transport has no end, so this source only runs live (`StreamTask.run`).
 */
export class TransportSource<K = string | null> implements StreamSource {
  readonly name: string;
  /** Deliveries handed to the task and not yet acknowledged, in the order it read them. */
  #unacknowledged: { position: string; delivery: Delivery }[] = [];

  constructor(private readonly options: TransportSourceOptions<K>) {
    this.name = options.name;
  }

  async *read(
    _after: string | undefined,
    { signal, follow = false }: SourceReadOptions = {},
  ): AsyncIterable<StreamRecord> {
    if (!follow) {
      throw new ValidationError('Transport sources run live only', [
        {
          path: ['sources', this.name],
          message: 'a transport has no end to run to: use StreamTask.run(signal)',
        },
      ]);
    }
    const { driver, destination, group } = this.options;
    const prefetch = this.options.prefetch ?? 1_000;
    // The broker bounds what it hands over by `prefetch`; the queue never pushes back.
    const handoff = new Handoff<Delivery>(Number.POSITIVE_INFINITY);
    let handle: ConsumerHandle | undefined;
    try {
      handle = await driver.consume(destination, group, { prefetch }, (delivery) => {
        void handoff.push(delivery);
      });
      for await (const delivery of handoff.take(signal)) {
        const message = delivery.message;
        if (!message) {
          await this.#deadLetter(delivery);
          continue;
        }
        const position = `${this.name}:${message.id}`;
        this.#unacknowledged.push({ position, delivery });
        const record = recordFromMessage(message, position) as StreamRecord;
        if (this.options.key) record.key = this.options.key(message);
        if (this.options.timestamp) record.timestamp = this.options.timestamp(message);
        yield record;
      }
    } finally {
      await handle?.stop();
      // Read but never committed (the task stopped or failed): the broker delivers them again.
      const unread = handoff.drainRemaining();
      const uncommitted = this.#unacknowledged.splice(0).map((entry) => entry.delivery);
      await Promise.all([...uncommitted, ...unread].map((delivery) => delivery.release()));
    }
  }

  async acknowledge(position: string): Promise<void> {
    const upTo = this.#unacknowledged.findIndex((entry) => entry.position === position);
    if (upTo < 0) return;
    const done = this.#unacknowledged.splice(0, upTo + 1);
    await Promise.all(done.map((entry) => entry.delivery.ack()));
  }

  redeliveryId(record: StreamRecord): string {
    return record.headers['ce-id'] ?? record.position;
  }

  async #deadLetter(delivery: Delivery): Promise<void> {
    const now = new Date();
    const error = delivery.decodeError ?? new Error('undecodable message');
    await delivery.deadLetter({
      reason: 'undecodable',
      errorClass: error.constructor.name,
      errorMessage: error.message,
      errorStack: error.stack,
      attempts: delivery.attempt,
      firstFailureAt: delivery.firstFailureAt ?? now,
      lastFailureAt: now,
      destination: this.options.destination,
      group: this.options.group,
    });
  }
}
