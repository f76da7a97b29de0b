import type WebSocket from 'ws';
import { StoreUnavailableError } from '../../core/errors.js';
import type { Delivery } from '../../messaging/transport.js';
import { openSocket } from './pulsar-socket.js';
import type { WsIncoming } from './pulsar-wire.js';

/** The socket a delivery came on: settling goes back over the same one. */
export interface ConsumerLink {
  /** Acknowledges on the socket the message came from; fails if that socket is gone. */
  ack(messageId: string): Promise<void>;
  /** The delivery is settled (whatever the outcome): one more message may come. */
  settled(): void;
}

export interface ConsumerLoopOptions {
  /** Full `ws://…/ws/v2/consumer/…?…` URL (subscription settings in the query). */
  url: string;
  /** The web service address, for errors. */
  address: string;
  /** Unsettled deliveries at once (WebSocket pull-mode permits). */
  prefetch: number;
  describe: string;
  onError: (error: unknown) => void;
}

const MAX_BACKOFF_MS = 5_000;

/**
 * One WebSocket consumer in pull mode: the broker sends only as many messages as we gave
 * permits for, one permit per settled delivery, so `prefetch` bounds what this process holds.
 * A dropped connection is reopened with backoff; what was delivered on it and not yet acked
 * is redelivered by Pulsar (acks over a dead socket fail, and the runtime reports them).
 * After `stop()` no permits are sent; the socket is closed once every delivery is settled,
 * which is also how unstarted deliveries go back: Pulsar redelivers a closed consumer's
 * unacknowledged messages to the group's other consumers, without counting a redelivery.
 */
export class PulsarConsumerLoop {
  #ws: WebSocket | undefined;
  #outstanding = 0;
  #stopping = false;
  #closed = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: ConsumerLoopOptions,
    private readonly toDelivery: (incoming: WsIncoming, link: ConsumerLink) => Delivery,
    private readonly onDelivery: (delivery: Delivery) => void,
  ) {}

  /** Opens the first connection; a refusal here is the caller's error, later ones retry. */
  async start(): Promise<void> {
    this.#attach(await openSocket(this.options.url, this.options.address));
  }

  /** Stops asking for messages; the socket closes once the last delivery is settled. */
  stop(): void {
    this.#stopping = true;
    clearTimeout(this.#timer);
    if (this.#outstanding === 0) this.close();
  }

  /** Drops the connection now (driver shutdown); unsettled messages are redelivered. */
  close(): void {
    this.#closed = true;
    this.#stopping = true;
    clearTimeout(this.#timer);
    this.#ws?.close();
    this.#ws = undefined;
  }

  #attach(ws: WebSocket): void {
    this.#ws = ws;
    this.#outstanding = 0;
    this.#attempt = 0;
    ws.on('message', (data) => this.#receive(ws, JSON.parse(String(data)) as WsIncoming));
    ws.on('error', (error) => this.options.onError(error));
    ws.on('close', () => {
      if (this.#ws === ws) this.#ws = undefined;
      if (!this.#closed && !this.#stopping) this.#reconnect();
    });
    this.#permit(ws, this.options.prefetch);
  }

  #reconnect(): void {
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.#attempt++);
    this.#timer = setTimeout(() => {
      openSocket(this.options.url, this.options.address).then(
        (ws) => {
          if (this.#stopping) ws.close();
          else this.#attach(ws);
        },
        (error: unknown) => {
          // One report when an outage starts, then one per ten attempts, not one per attempt.
          if (this.#attempt % 10 === 1) this.options.onError(error);
          if (!this.#stopping) this.#reconnect();
        },
      );
    }, delay);
  }

  #permit(ws: WebSocket, count: number): void {
    if (count > 0 && !this.#stopping && ws.readyState === ws.OPEN)
      ws.send(JSON.stringify({ type: 'permit', permitMessages: count }));
  }

  #receive(ws: WebSocket, incoming: WsIncoming): void {
    if (typeof incoming.messageId !== 'string' || typeof incoming.payload !== 'string') return;
    this.#outstanding++;
    let settled = false;
    const link: ConsumerLink = {
      ack: (messageId) =>
        new Promise<void>((resolve, reject) => {
          if (ws.readyState !== ws.OPEN)
            return reject(
              new StoreUnavailableError(this.options.address, {
                cause: new Error(`${this.options.describe}: connection closed before the ack`),
              }),
            );
          ws.send(JSON.stringify({ messageId }), (error) =>
            error
              ? reject(new StoreUnavailableError(this.options.address, { cause: error }))
              : resolve(),
          );
        }),
      settled: () => {
        if (settled) return;
        settled = true;
        if (ws !== this.#ws) return; // a delivery from a connection that is gone
        this.#outstanding--;
        if (this.#stopping) {
          if (this.#outstanding === 0) this.close();
        } else this.#permit(ws, 1);
      },
    };
    this.onDelivery(this.toDelivery(incoming, link));
  }
}
