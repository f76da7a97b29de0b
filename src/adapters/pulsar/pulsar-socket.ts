import WebSocket from 'ws';
import {
  CausewayError,
  StoreUnavailableError,
  type CausewayErrorOptions,
} from '../../core/errors.js';
import { PulsarTopologyError } from './pulsar-admin.js';
import type { WsOutgoing } from './pulsar-wire.js';

/** The broker refused to store a message (its send receipt was an error). */
export class PulsarPublishError extends CausewayError {
  constructor(
    readonly topic: string,
    readonly result: string,
    message: string,
    options: CausewayErrorOptions = {},
  ) {
    super('PUBLISH_REJECTED', message, options);
  }
  override toJSON() {
    return { ...super.toJSON(), topic: this.topic, result: this.result };
  }
}

/**
 * Opens a WebSocket to Pulsar's WebSocket service. A handshake refused for our request
 * (unknown namespace, bad subscription settings: HTTP 4xx) is a `PulsarTopologyError` with the
 * broker's reason; a broker that does not answer or answers 5xx is a `StoreUnavailableError`.
 */
export function openSocket(url: string, address: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 10_000, perMessageDeflate: false });
    ws.once('open', () => {
      ws.removeAllListeners('error');
      resolve(ws);
    });
    ws.once('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      response.on('end', () => {
        ws.terminate();
        const status = response.statusCode ?? 0;
        const why = `Pulsar refused ${url.replace(/^.*\/ws\/v2\//, '')}: HTTP ${status} ${text.slice(0, 300)}`;
        // 4xx: our request is wrong (unknown namespace, bad settings). 5xx: the broker is
        // starting, stopping or failing over, which is an outage like a refused connection.
        reject(
          status >= 500
            ? new StoreUnavailableError(address, { cause: new Error(why) })
            : new PulsarTopologyError(url.replace(/\?.*$/, ''), why),
        );
      });
    });
    ws.once('error', (cause) => reject(new StoreUnavailableError(address, { cause })));
  });
}

interface Receipt {
  result: string;
  messageId?: string;
  context?: string;
  errorMsg?: string;
}

const WINDOW = 1_000;

/**
 * One WebSocket producer on one topic. Every message carries a `context` that Pulsar echoes
 * in its send receipt; `send` resolves once every message has an `ok` receipt, i.e. is
 * stored by the bookie. A closed socket fails what is still waiting (the caller may re-send:
 * delivery is at-least-once and consumers de-duplicate on the message id).
 */
export class PulsarProducer {
  readonly #pending = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  #counter = 0;
  #closed: Error | undefined;

  private constructor(
    private readonly ws: WebSocket,
    readonly topic: string,
    private readonly address: string,
    onClose: () => void,
  ) {
    ws.on('message', (data) => this.#receipt(JSON.parse(String(data)) as Receipt));
    ws.on('error', () => {}); // 'close' follows and fails what is pending
    ws.on('close', () => {
      this.#closed = new StoreUnavailableError(address, {
        cause: new Error(`producer connection to ${topic} closed`),
      });
      for (const waiter of this.#pending.values()) waiter.reject(this.#closed);
      this.#pending.clear();
      onClose();
    });
  }

  static async open(
    wsBase: string,
    topicPath: string,
    topic: string,
    address: string,
    onClose: () => void,
  ): Promise<PulsarProducer> {
    // Batching off: a receipt then names exactly one message.
    const ws = await openSocket(
      `${wsBase}/producer/${topicPath}?batchingEnabled=false&sendTimeoutMillis=30000`,
      address,
    );
    return new PulsarProducer(ws, topic, address, onClose);
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  async send(messages: readonly ((context: string) => WsOutgoing)[]): Promise<void> {
    for (let start = 0; start < messages.length; start += WINDOW) {
      await Promise.all(messages.slice(start, start + WINDOW).map((m) => this.#sendOne(m)));
    }
  }

  close(): void {
    this.ws.close();
  }

  #sendOne(build: (context: string) => WsOutgoing): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    const context = String(++this.#counter);
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(context, { resolve, reject });
      this.ws.send(JSON.stringify(build(context)), (error) => {
        if (!error) return;
        this.#pending.delete(context);
        reject(new StoreUnavailableError(this.address, { cause: error }));
      });
    });
  }

  #receipt(receipt: Receipt): void {
    const waiter = receipt.context === undefined ? undefined : this.#pending.get(receipt.context);
    if (!waiter) return;
    this.#pending.delete(receipt.context!);
    if (receipt.result === 'ok') return waiter.resolve();
    waiter.reject(
      new PulsarPublishError(
        this.topic,
        receipt.result,
        `Pulsar did not store a message on ${this.topic}: ${receipt.result}${receipt.errorMsg ? ` (${receipt.errorMsg})` : ''}`,
      ),
    );
  }
}
