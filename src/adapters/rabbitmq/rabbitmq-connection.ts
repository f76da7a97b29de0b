import { connect, type ChannelModel } from 'amqplib';
import { StoreClosedError, StoreUnavailableError } from '../../core/errors.js';

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

/**
 * One AMQP connection that comes back by itself: when the broker goes away (restart, network),
 * it reconnects with capped exponential backoff and tells its listeners, which re-declare and
 * resume consuming. While it is down, work fails fast with `StoreUnavailableError`.
 */
export class RabbitMqConnection {
  #model: ChannelModel | undefined;
  #closed = false;
  #lost: Error | undefined;
  readonly #listeners = new Set<() => void>();

  private constructor(
    private readonly url: string,
    readonly address: string,
  ) {}

  static async open(url: string, address: string): Promise<RabbitMqConnection> {
    const connection = new RabbitMqConnection(url, address);
    try {
      connection.#attach(await connect(url));
    } catch (cause) {
      throw new StoreUnavailableError(address, { cause });
    }
    return connection;
  }

  /** The live connection, or a typed error saying why there is none. */
  current(): ChannelModel {
    if (this.#closed) throw new StoreClosedError();
    if (!this.#model) throw new StoreUnavailableError(this.address, { cause: this.#lost });
    return this.#model;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The reason the connection was last lost, for error reports. */
  get lastError(): Error | undefined {
    return this.#lost;
  }

  onReconnect(listener: () => void): void {
    this.#listeners.add(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#model?.close().catch(() => undefined);
    this.#model = undefined;
  }

  #attach(model: ChannelModel): void {
    this.#model = model;
    this.#lost = undefined;
    // Without an 'error' listener the event would crash the process; the next call reports it.
    model.on('error', (error: Error) => (this.#lost = error));
    model.on('close', (error?: Error) => {
      if (this.#model !== model) return;
      this.#model = undefined;
      this.#lost ??= error ?? new Error('connection closed');
      if (!this.#closed) void this.#reconnect();
    });
  }

  async #reconnect(): Promise<void> {
    let delay = FIRST_RETRY_MS;
    while (!this.#closed) {
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      try {
        const model = await connect(this.url);
        if (this.#closed) {
          await model.close().catch(() => undefined);
          return;
        }
        this.#attach(model);
        for (const listener of this.#listeners) listener();
        return;
      } catch (error) {
        this.#lost = error instanceof Error ? error : new Error(String(error));
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    }
  }
}
