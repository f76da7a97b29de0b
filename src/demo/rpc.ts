/**
 * Request/reply over a Transport, the only way the demo's services talk. A saga step
 * publishes a command to a service's destination carrying the step's idempotency key and
 * the orders service's reply destination, then waits for the reply with that key. A step
 * that times out is retried by the saga runtime and publishes the same command again: the
 * service answers a key it has seen from its ledger, so the effect happens once.
 */
import { PermanentError } from '../core/errors.js';
import type { EventRegistry } from '../event-store/event-registry.js';
import type { Transport } from '../messaging/create-transport.js';
import type { Consumer, ConsumerOptions } from '../messaging/consumer.js';
import type { Message } from '../messaging/message.js';

/** What a service answers: done (with a result), or refused for a business reason. */
export interface CommandReply {
  ok: boolean;
  /** Why it was refused (`ok: false`), e.g. "out of stock: sku-sold-out". */
  reason?: string;
  result?: Record<string, string>;
}

export interface CallOptions {
  idempotencyKey: string;
  correlationId?: string;
  /** Aborted by the saga runtime when the step times out: the wait ends, the command stays sent. */
  signal: AbortSignal;
}

const KEY = 'idempotencykey';
const REPLY_TO = 'replyto';

/** The saga side: sends commands and hands each reply to the step waiting for its key. */
export class CommandClient {
  /**
   * Waiters per key. A set, not one waiter: two calls with one key may overlap (a retry
   * while an abandoned attempt still waits, a duplicate delivery), and each must get the
   * reply and remove only itself when it ends.
   */
  readonly #waiting = new Map<string, Set<(reply: CommandReply) => void>>();
  #consumer: Consumer | undefined;

  constructor(
    private readonly transport: Transport,
    /** Where services send replies; one per orders deployment. */
    readonly replyDestination: string,
  ) {}

  /** Starts consuming replies. A reply nobody waits for (its step timed out) is dropped. */
  async start(group: string, options: ConsumerOptions = {}): Promise<void> {
    this.#consumer = await this.transport.subscribe(
      this.replyDestination,
      group,
      (message) => {
        const key = message.extensions[KEY];
        if (key === undefined) return;
        for (const deliver of this.#waiting.get(key) ?? []) deliver(message.data as CommandReply);
      },
      options,
    );
  }

  async stop(): Promise<void> {
    await this.#consumer?.stop();
  }

  async call(
    destination: string,
    type: string,
    data: Record<string, unknown>,
    options: CallOptions,
  ): Promise<CommandReply> {
    const { idempotencyKey: key, signal } = options;
    signal.throwIfAborted();
    // Registered before publishing: a fast service cannot reply before anyone listens.
    let deliver!: (reply: CommandReply) => void;
    const reply = new Promise<CommandReply>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      deliver = (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      };
    });
    const waiters = this.#waiting.get(key) ?? new Set();
    waiters.add(deliver);
    this.#waiting.set(key, waiters);
    try {
      await this.transport.publish(destination, [
        {
          type,
          data,
          partitionkey: String(data['orderId'] ?? key),
          ...(options.correlationId !== undefined && { correlationid: options.correlationId }),
          extensions: { [KEY]: key, [REPLY_TO]: this.replyDestination },
        },
      ]);
      return await reply;
    } finally {
      // Only this call's waiter: an overlapping call with the same key keeps waiting.
      waiters.delete(deliver);
      if (waiters.size === 0 && this.#waiting.get(key) === waiters) this.#waiting.delete(key);
    }
  }

  /** `call`, with a refusal turned into a `PermanentError`: the saga compensates, no retry helps. */
  async require(
    destination: string,
    type: string,
    data: Record<string, unknown>,
    options: CallOptions,
  ): Promise<Record<string, string>> {
    const reply = await this.call(destination, type, data, options);
    if (!reply.ok) throw new PermanentError(reply.reason ?? `${type} was refused`);
    return reply.result ?? {};
  }
}

/** A service's handler for one command type; the key makes repeated calls answer the same. */
export type CommandHandler = (data: never, idempotencyKey: string) => Promise<CommandReply>;

/**
 * The service side: consumes `destination` as `group`, validates each command against the
 * registry (a malformed one is dead-lettered with its field path), runs its handler and
 * publishes the reply. A crash between handling and replying loses only the reply: the
 * saga's retry asks again and gets the stored answer.
 */
export async function serveCommands(
  transport: Transport,
  destination: string,
  handlers: Record<string, CommandHandler>,
  options: { registry: EventRegistry; consumer?: ConsumerOptions },
): Promise<Consumer> {
  return transport.subscribe(
    destination,
    destination,
    async (message: Message) => {
      const key = message.extensions[KEY];
      const replyTo = message.extensions[REPLY_TO];
      if (key === undefined || replyTo === undefined)
        throw new PermanentError(`${message.type} has no ${KEY} or ${REPLY_TO} extension`);
      const reply = await handlers[message.type]!(message.data as never, key);
      await transport.publish(replyTo, [
        {
          type: `${message.type}Reply`,
          data: reply,
          partitionkey: message.partitionkey ?? key,
          causationid: message.id,
          ...(message.correlationid !== undefined && { correlationid: message.correlationid }),
          extensions: { [KEY]: key },
        },
      ]);
    },
    { ...options.consumer, registry: options.registry, types: Object.keys(handlers) },
  );
}
