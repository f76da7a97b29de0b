import type { Consumer as JsConsumer, JsMsg } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { redeliveryLimitFailure } from '../../messaging/dead-letters.js';
import type { Delivery } from '../../messaging/transport.js';
import { RETRY_GROUP_HEADER } from './nats-dead-letters.js';

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
 * unsettled in this process (the durable's `max_ack_pending` caps the whole group). Each pull
 * is left to finish rather than cancelled, because messages the server already sent to a
 * cancelled pull would sit unacknowledged until the ack wait ran out.
 */
export class NatsPullLoop {
  readonly #unsettled = new Set<JsMsg>();
  #stopping = false;
  #wake: (() => void) | undefined;
  #running: Promise<void> = Promise.resolve();
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly consumer: JsConsumer,
    private readonly settings: PullLoopSettings,
    private readonly wrap: (msg: JsMsg) => Promise<Delivery>,
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
    this.#wake?.();
    await this.#running;
    if (this.#unsettled.size === 0) clearInterval(this.#heartbeat);
  }

  /** Forgets every delivery (the connection is closing). */
  close(): void {
    this.#stopping = true;
    this.#wake?.();
    clearInterval(this.#heartbeat);
    this.#unsettled.clear();
  }

  settled(msg: JsMsg): void {
    this.#unsettled.delete(msg);
    if (this.#stopping && this.#unsettled.size === 0) clearInterval(this.#heartbeat);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      const room = this.settings.prefetch - this.#unsettled.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      try {
        const batch = await this.consumer.fetch({
          max_messages: room,
          expires: this.settings.pullExpiresMs,
        });
        for await (const msg of batch) await this.#hand(msg);
        failures = 0;
      } catch (error) {
        // Disconnected, or the stream is gone: report each failure, retry with a growing pause.
        this.settings.onError(error);
        failures++;
        if (!this.#stopping) await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  async #hand(msg: JsMsg): Promise<void> {
    const onlyFor = msg.headers?.get(RETRY_GROUP_HEADER);
    if (onlyFor && onlyFor !== this.settings.group) {
      // A dead letter sent back for another group: not ours to handle again.
      msg.ack();
      return;
    }
    this.#unsettled.add(msg);
    let delivery: Delivery;
    try {
      delivery = await this.wrap(msg);
    } catch (error) {
      // Left unsettled on purpose: JetStream redelivers it once the ack wait runs out.
      this.#unsettled.delete(msg);
      this.settings.onError(error);
      return;
    }
    if (this.#stopping) return void delivery.release().catch(this.settings.onError);
    if (delivery.attempt > this.settings.maxDeliveries) {
      const { destination, group } = this.settings;
      const why = 'the handler crashed or outlived the ack wait';
      return void delivery
        .deadLetter(redeliveryLimitFailure(delivery, destination, group, why))
        .catch(this.settings.onError);
    }
    this.onDelivery(delivery);
  }
}
