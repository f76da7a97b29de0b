import type { IdempotencyStore, InboxStore, Message, OutboxStore } from 'causeway';

/** Adds outbox messages inside the transaction the harness opened. */
export type OutboxWrite = (destination: string, messages: readonly Message[]) => Promise<void>;

/** One outbox backend. The outbox contract takes one of these and nothing else. */
export interface OutboxHarness {
  readonly name: string;
  create(): Promise<OutboxUnderTest>;
  cleanup(): Promise<void>;
}

export interface OutboxUnderTest {
  store: OutboxStore;
  /**
   * Runs `work` in one transaction of the backend, the way application code would: commits
   * when it resolves, rolls back when it throws (and rethrows).
   */
  transaction<T>(work: (write: OutboxWrite) => Promise<T>): Promise<T>;
  /** Unsent records as seen from outside any open transaction (another connection). */
  pending(): Promise<number>;
  /** Resolves once `onWrite` notifications from other connections can arrive. */
  listening?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A side effect the handler makes through the inbox's transaction; `count` reads how many
 * committed, from outside that transaction.
 */
export interface InboxEffects<Transaction> {
  record(transaction: Transaction, messageId: string): Promise<void>;
  count(): Promise<number>;
}

/** One inbox backend. */
export interface InboxHarness {
  readonly name: string;
  create(): Promise<InboxUnderTest>;
  cleanup(): Promise<void>;
}

export interface InboxUnderTest<Transaction = unknown> {
  store: InboxStore<Transaction>;
  /** A second store on the same data, as another process would have (or the same one). */
  other: InboxStore<Transaction>;
  effects: InboxEffects<Transaction>;
  close(): Promise<void>;
}

/** One idempotency backend. */
export interface IdempotencyHarness {
  readonly name: string;
  create(): Promise<IdempotencyUnderTest>;
  cleanup(): Promise<void>;
}

export interface IdempotencyUnderTest {
  store: IdempotencyStore;
  /** A second store on the same data, as another process would have (or the same one). */
  other: IdempotencyStore;
  close(): Promise<void>;
}
