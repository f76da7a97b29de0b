import type { FetchMessages, Consumer as JsConsumer, JsMsg } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { redeliveryLimitFailure } from '../../messaging/dead-letters.js';
import type { Delivery } from '../../messaging/transport.js';
import { RETRY_GROUP_HEADER } from './nats-dead-letters.js';

/** Acks written but not confirmed yet, per prefetch slot, past which no further pull goes out. */
export const UNCONFIRMED_PER_PREFETCH = 4;

export interface PullLoopSettings {
  prefetch: number;
  pullExpiresMs: number;
  ackWaitMs: number;
  /** Past this many deliveries (releases not counted) the message is dead-lettered here. */
  maxDeliveries: number;
  destination: string;
  group: string;
  onError: (error: unknown) => void;
}

/**
 * Pulls from the group's durable consumer with credit: never more than `prefetch` deliveries
 * in this process that JetStream has not received the ack of, counting what open pulls may
 * still bring (the durable's `max_ack_pending` caps the whole group). An ack gives its credit
 * back once it is written to the connection, before JetStream confirmed it: the pull that
 * credit pays for is written after it on the same connection, and the server reads a
 * connection in order, so it has the ack before it hands out the next message. What a crash
 * repeats stays within the prefetch, as with a broker that counts unacked deliveries itself;
 * the delivery still counts as settled only once the ack is confirmed (`NatsAckBatch`), and
 * acks awaiting confirmation are bounded too (`UNCONFIRMED_PER_PREFETCH`), so a server that
 * stops answering stops the pulls. Waiting for the confirmation instead cost every cycle of
 * `prefetch` messages a round trip in which nothing was pulled.
 *
 * Pulls overlap: a new one goes out as soon as a quarter of the prefetch is free, rather than
 * after the previous pull was filled (one pull at a time left the consumer idle for a pull
 * round trip every few messages). Each pull is left to finish rather than cancelled, because
 * messages the server already sent to a cancelled pull would sit unacknowledged until the ack
 * wait ran out.
 */
export class NatsPullLoop {
  /** Handed out (or being wrapped) and not acked on the wire yet: these hold credit. */
  readonly #unsettled = new Set<JsMsg>();
  /** Acked on the wire, the confirmation not back yet. */
  readonly #confirming = new Set<JsMsg>();
  /** Pulls not finished yet (filled, expired or failed). */
  readonly #pulls = new Set<Promise<void>>();
  /** Messages asked for by open pulls and not received yet: credit already spoken for. */
  #requested = 0;
  /** The last hand-out still waiting (a redelivery's record); later messages queue behind it. */
  #handing: Promise<void> = Promise.resolve();
  /** Messages not handed out yet because one before them is still being wrapped. */
  #waitingToHand = 0;
  #failures = 0;
  #stopping = false;
  #wake: (() => void) | undefined;
  #running: Promise<void> = Promise.resolve();
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly consumer: JsConsumer,
    private readonly settings: PullLoopSettings,
    private readonly wrap: (msg: JsMsg) => Delivery | Promise<Delivery>,
    private readonly onDelivery: (delivery: Delivery) => void,
  ) {}

  start(): void {
    // Long handlers (and deliveries queued behind a busy key) keep their lease: JetStream
    // resets the ack wait on each in-progress signal.
    this.#heartbeat = setInterval(
      () => {
        for (const msg of this.#unsettled) msg.working();
      },
      Math.max(100, Math.floor(this.settings.ackWaitMs / 3)),
    );
    this.#heartbeat.unref();
    this.#running = this.#run();
  }

  /** Stops pulling; deliveries already handed out keep their heartbeat until settled. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeUp();
    await this.#running;
    if (this.#unsettled.size === 0) clearInterval(this.#heartbeat);
  }

  /** Forgets every delivery (the connection is closing). */
  close(): void {
    this.#stopping = true;
    this.#wake?.();
    clearInterval(this.#heartbeat);
    this.#unsettled.clear();
    this.#confirming.clear();
  }

  /** `msg`'s ack is written to the connection: its credit pays for the next pull. */
  acked(msg: JsMsg): void {
    if (!this.#unsettled.delete(msg)) return;
    this.#confirming.add(msg);
    this.#settling();
  }

  settled(msg: JsMsg): void {
    this.#unsettled.delete(msg);
    this.#confirming.delete(msg);
    this.#settling();
  }

  #settling(): void {
    if (this.#stopping && this.#unsettled.size === 0) clearInterval(this.#heartbeat);
    this.#wakeUp();
  }

  async #run(): Promise<void> {
    const minPull = Math.ceil(this.settings.prefetch / 4);
    while (!this.#stopping) {
      const { prefetch } = this.settings;
      const room = prefetch - this.#unsettled.size - this.#requested;
      // A pull per freed slot would cost the server a request per message: wait for a quarter.
      if (
        room <= 0 ||
        (room < minPull && this.#pulls.size > 0) ||
        this.#confirming.size >= prefetch * UNCONFIRMED_PER_PREFETCH
      ) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const pull = this.#pull(room).finally(() => this.#pulls.delete(pull));
      this.#pulls.add(pull);
    }
    await Promise.all(this.#pulls);
    await this.#handing;
  }

  /** One pull of up to `room` messages; its credit stays reserved until it is over. */
  async #pull(room: number): Promise<void> {
    this.#requested += room;
    let received = 0;
    try {
      // A callback rather than the iterator: messages of overlapping pulls then reach `#hand`
      // in the order they arrived on the connection (iterators would interleave them).
      const options: FetchMessages & { callback: (msg: JsMsg) => void } = {
        max_messages: room,
        expires: this.settings.pullExpiresMs,
        callback: (msg) => {
          received++;
          this.#requested--;
          this.#receive(msg);
        },
      };
      const messages = await this.consumer.fetch(options);
      const outcome = await messages.closed();
      if (outcome instanceof Error) throw outcome;
      this.#failures = 0;
    } catch (error) {
      // Disconnected, or the stream is gone: report each failure, retry with a growing pause
      // (the pull keeps its credit meanwhile, so no other pull goes out in its place).
      this.settings.onError(error);
      this.#failures++;
      if (!this.#stopping) await sleep(Math.min(5_000, 100 * 2 ** Math.min(this.#failures, 6)));
    } finally {
      this.#requested -= room - received;
      this.#wakeUp();
    }
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * Hands a message to the runtime in arrival order: at once when nothing is waiting before it
   * (a first delivery is wrapped without yielding), else after the redelivery being wrapped.
   */
  #receive(msg: JsMsg): void {
    if (this.#waitingToHand === 0) {
      const wrapping = this.#hand(msg);
      if (!wrapping) return;
      this.#waitingToHand++;
      this.#handing = wrapping.finally(() => this.#waitingToHand--);
      return;
    }
    this.#waitingToHand++;
    this.#handing = this.#handing
      .then(() => this.#hand(msg))
      .catch((error: unknown) => this.settings.onError(error))
      .finally(() => this.#waitingToHand--);
  }

  /** Returns a promise only while a redelivery's failure record is being read. */
  #hand(msg: JsMsg): Promise<void> | undefined {
    const onlyFor = msg.headers?.get(RETRY_GROUP_HEADER);
    if (onlyFor && onlyFor !== this.settings.group) {
      // A dead letter sent back for another group: not ours to handle again.
      msg.ack();
      return;
    }
    this.#unsettled.add(msg);
    let wrapped: Delivery | Promise<Delivery>;
    try {
      wrapped = this.wrap(msg);
    } catch (error) {
      this.#wrapFailed(msg, error);
      return;
    }
    if (!(wrapped instanceof Promise)) return this.#handOut(wrapped);
    return wrapped.then(
      (delivery) => this.#handOut(delivery),
      (error: unknown) => this.#wrapFailed(msg, error),
    );
  }

  /** Left unsettled on purpose: JetStream redelivers it once the ack wait runs out. */
  #wrapFailed(msg: JsMsg, error: unknown): void {
    this.#unsettled.delete(msg);
    this.settings.onError(error);
  }

  #handOut(delivery: Delivery): undefined {
    if (this.#stopping) return void delivery.release().catch(this.settings.onError);
    if (delivery.attempt > this.settings.maxDeliveries) {
      const { destination, group } = this.settings;
      const why = 'the handler crashed or outlived the ack wait';
      return void delivery
        .deadLetter(redeliveryLimitFailure(delivery, destination, group, why))
        .catch(this.settings.onError);
    }
    this.onDelivery(delivery);
    return undefined;
  }
}
