import type { MessageHandler } from './consumer.js';
import type { Message } from './message.js';

/**
 * Exactly-once effects over at-least-once delivery: the inbox records `(group, messageId)` in
 * the same transaction as the handler's own writes. A redelivered message finds its record and
 * is acked without running the handler again; a crash before commit leaves neither the record
 * nor the effects, so the redelivery runs it for real. SQL adapters pass their transaction.
 */
export interface InboxStore<Transaction = unknown> {
  process(
    group: string,
    messageId: string,
    work: (transaction: Transaction) => Promise<void>,
  ): Promise<'processed' | 'duplicate'>;
  /** Forgets records older than `olderThan` (redeliveries come long before). */
  cleanup(olderThan: Date): Promise<number>;
}

/** Wraps a handler so its effects (written through the transaction it is given) happen once per message. */
export function withInbox<Transaction>(
  store: InboxStore<Transaction>,
  group: string,
  handler: (message: Message, transaction: Transaction) => Promise<void>,
): MessageHandler {
  return async (message) => {
    await store.process(group, message.id, (transaction) => handler(message, transaction));
  };
}

/**
 * The reference inbox: one process, so "the same transaction" is the same critical section.
 * Concurrent deliveries of one message wait for the first: no check-then-act race.
 */
export class MemoryInboxStore implements InboxStore<undefined> {
  readonly #seen = new Map<string, Date>();
  readonly #running = new Map<string, Promise<unknown>>();

  async process(
    group: string,
    messageId: string,
    work: (transaction: undefined) => Promise<void>,
  ): Promise<'processed' | 'duplicate'> {
    const key = `${group}\u0000${messageId}`;
    for (let running = this.#running.get(key); running; running = this.#running.get(key)) {
      await running.catch(() => undefined);
    }
    if (this.#seen.has(key)) return 'duplicate';
    const attempt = work(undefined).then(() => {
      this.#seen.set(key, new Date());
    });
    this.#running.set(key, attempt);
    try {
      await attempt;
      return 'processed';
    } finally {
      this.#running.delete(key);
    }
  }

  async cleanup(olderThan: Date): Promise<number> {
    let removed = 0;
    for (const [key, at] of this.#seen) {
      if (at < olderThan) {
        this.#seen.delete(key);
        removed++;
      }
    }
    return removed;
  }
}

/**
 * For handlers without a transactional store: skip a message id seen within `windowMs` in this
 * process. Cheaper than an inbox, but only as good as its window and its process.
 */
export function dedupeWithin(windowMs: number, handler: MessageHandler): MessageHandler {
  const seen = new Map<string, number>();
  return async (message, context) => {
    const now = Date.now();
    for (const [id, at] of seen) {
      if (now - at < windowMs) break; // insertion order = time order
      seen.delete(id);
    }
    if (seen.has(message.id)) return;
    await handler(message, context);
    seen.set(message.id, now);
  };
}
