import { hostname } from 'node:os';
import { newId } from '../core/ids.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, sleep, type RetryPolicy } from '../core/retry.js';
import type { Message } from './message.js';
import type { TransportDriver } from './transport.js';

/** A message waiting in the outbox, written in the same transaction as the change it announces. */
export interface OutboxRecord {
  /** Store-assigned, increasing in write order. */
  sequence: number;
  destination: string;
  message: Message;
}

/** The unsent records of one destination: what an operator watches after a broker outage. */
export interface OutboxBacklog {
  destination: string;
  /** Records not yet published (claimed ones included: they are not sent until confirmed). */
  pending: number;
  /** When the oldest of them was written (the store's clock). */
  oldestCreatedAt: Date;
}

/**
 * The relay side of a transactional outbox. Writing happens inside the application's own
 * transaction (each SQL adapter exposes a function taking its transaction handle); the relay
 * claims what was committed, publishes it with broker confirmation and marks it sent.
 */
export interface OutboxStore {
  /**
   * Claims up to `limit` unsent records for `owner` for `leaseMs`, oldest first, skipping any
   * record whose partition key has an older record still unsent (per-key order), and records
   * claimed by another live relay (several relays may run).
   */
  claim(owner: string, limit: number, leaseMs: number): Promise<OutboxRecord[]>;
  /** Marks records sent, if `owner` still holds them. */
  markSent(owner: string, sequences: readonly number[]): Promise<void>;
  /** Gives claimed records back (publishing failed), to be retried after `delayMs`. */
  release(owner: string, sequences: readonly number[], delayMs: number): Promise<void>;
  /** Deletes sent records older than `olderThan`; returns how many. */
  cleanup(olderThan: Date): Promise<number>;
  /** Unsent records per destination (destinations with none are left out), for monitoring. */
  backlog(): Promise<OutboxBacklog[]>;
  /** Wakes the relay when new records commit (where the store can tell). */
  onWrite?(listener: () => void): () => void;
  /**
   * Relays up to `limit` records straight into `driver`, where the store can make claim,
   * publish and mark-sent one transaction (the driver's queue lives in the store's own
   * database): nothing is ever published twice, and a batch costs one commit instead of three.
   * Resolves with how many records it relayed, or `undefined` when it cannot write to this
   * driver; the relay then claims, publishes and marks sent itself.
   */
  relayInto?(driver: TransportDriver, owner: string, limit: number): Promise<number | undefined>;
}

export interface OutboxRelayOptions {
  store: OutboxStore;
  driver: TransportDriver;
  owner?: string;
  batchSize?: number;
  /** A relay that stops renewing loses its claims after this long. Default 30 s. */
  leaseMs?: number;
  pollIntervalMs?: number;
  /** Backoff when the broker refuses. */
  retry?: Partial<RetryPolicy>;
  /** Sent records are deleted once older than this. Default 1 hour. */
  keepSentMs?: number;
  /** How often the relay deletes old sent records. Default 1 minute. */
  cleanupIntervalMs?: number;
  onError?: (error: unknown) => void;
}

/**
 * Publishes committed outbox records: claim a batch, publish each destination's messages in
 * order with broker confirmation, mark them sent. A crash between publish and mark re-sends
 * the batch (at-least-once, same message ids for the consumers' inbox); nothing committed is
 * ever lost, which is the point of the outbox.
 */
export class OutboxRelay {
  readonly owner: string;
  readonly done: Promise<void>;
  readonly #abort = new AbortController();
  #wake: (() => void) | undefined;
  /** A wake-up that arrived while the relay was busy: the next idle returns at once. */
  #woken = false;
  #published = 0;

  constructor(private readonly options: OutboxRelayOptions) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${newId().slice(-8)}`;
    this.done = this.#run();
    this.done.catch(() => undefined);
  }

  get published(): number {
    return this.#published;
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#signal();
    await this.done;
  }

  async #run(): Promise<void> {
    const { store, driver } = this.options;
    const batchSize = this.options.batchSize ?? 100;
    const leaseMs = this.options.leaseMs ?? 30_000;
    const pollMs = this.options.pollIntervalMs ?? 200;
    const policy = {
      ...DEFAULT_RETRY_POLICY,
      maxAttempts: Number.POSITIVE_INFINITY,
      ...this.options.retry,
    };
    const keepSentMs = this.options.keepSentMs ?? 3_600_000;
    const cleanupIntervalMs = this.options.cleanupIntervalMs ?? 60_000;
    const unlisten = store.onWrite?.(() => this.#signal());
    let failures = 0;
    let lastCleanup = 0;
    // Asked once: whether a driver is one the store writes to directly does not change.
    let direct = store.relayInto !== undefined;
    try {
      while (!this.#abort.signal.aborted) {
        let claimed: OutboxRecord[] = [];
        let relayed = 0;
        try {
          const moved = direct ? await store.relayInto?.(driver, this.owner, batchSize) : undefined;
          if (moved === undefined) {
            direct = false;
            claimed = await store.claim(this.owner, batchSize, leaseMs);
            if (claimed.length > 0) await this.#publish(driver, claimed);
            relayed = claimed.length;
          } else {
            this.#published += moved;
            relayed = moved;
          }
          failures = 0;
          if (Date.now() - lastCleanup >= cleanupIntervalMs) {
            lastCleanup = Date.now();
            await store.cleanup(new Date(Date.now() - keepSentMs));
          }
        } catch (error) {
          failures++;
          this.options.onError?.(error);
          const delay = backoffDelay(policy, failures);
          if (claimed.length > 0)
            await store
              .release(
                this.owner,
                claimed.map((r) => r.sequence),
                delay,
              )
              .catch(() => undefined);
          await sleep(delay, this.#abort.signal).catch(() => undefined);
          continue;
        }
        if (relayed < batchSize) await this.#idle(pollMs);
      }
    } finally {
      unlisten?.();
    }
  }

  /** One destination at a time, in sequence order, so per-key order survives the relay. */
  async #publish(driver: TransportDriver, records: readonly OutboxRecord[]): Promise<void> {
    const byDestination = new Map<string, OutboxRecord[]>();
    for (const record of records) {
      const list = byDestination.get(record.destination) ?? [];
      list.push(record);
      byDestination.set(record.destination, list);
    }
    for (const [destination, list] of byDestination) {
      await driver.publish(
        destination,
        list.map((r) => r.message),
      );
      await this.options.store.markSent(
        this.owner,
        list.map((r) => r.sequence),
      );
      this.#published += list.length;
    }
  }

  #signal(): void {
    if (this.#wake) this.#wake();
    else this.#woken = true;
  }

  #idle(ms: number): Promise<void> {
    if (this.#woken || this.#abort.signal.aborted) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        this.#woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

interface MemoryRecord extends OutboxRecord {
  createdAt: Date;
  sentAt: Date | undefined;
  claimedBy: string | undefined;
  claimedUntil: number;
  availableAt: number;
}

/** The reference outbox: `write` stands in for "in the same transaction" (everything is). */
export class MemoryOutboxStore implements OutboxStore {
  readonly #records: MemoryRecord[] = [];
  readonly #listeners = new Set<() => void>();
  #sequence = 0;

  write(destination: string, messages: readonly Message[]): void {
    const createdAt = new Date();
    for (const message of messages) {
      this.#records.push({
        sequence: ++this.#sequence,
        destination,
        message,
        createdAt,
        sentAt: undefined,
        claimedBy: undefined,
        claimedUntil: 0,
        availableAt: 0,
      });
    }
    for (const listener of this.#listeners) listener();
  }

  async claim(owner: string, limit: number, leaseMs: number): Promise<OutboxRecord[]> {
    const now = Date.now();
    const blockedKeys = new Set<string>();
    const out: OutboxRecord[] = [];
    for (const record of this.#records) {
      if (record.sentAt) continue;
      const key =
        record.message.partitionkey === undefined
          ? undefined
          : `${record.destination}\u0000${record.message.partitionkey}`;
      const free =
        (record.claimedBy === undefined ||
          record.claimedUntil <= now ||
          record.claimedBy === owner) &&
        record.availableAt <= now;
      if (key !== undefined && blockedKeys.has(key)) continue;
      if (!free) {
        if (key !== undefined) blockedKeys.add(key);
        continue;
      }
      if (out.length >= limit) break;
      record.claimedBy = owner;
      record.claimedUntil = now + leaseMs;
      out.push({
        sequence: record.sequence,
        destination: record.destination,
        message: record.message,
      });
    }
    return out;
  }

  async markSent(owner: string, sequences: readonly number[]): Promise<void> {
    const now = new Date();
    for (const record of this.#records) {
      if (sequences.includes(record.sequence) && record.claimedBy === owner) record.sentAt = now;
    }
  }

  async release(owner: string, sequences: readonly number[], delayMs: number): Promise<void> {
    for (const record of this.#records) {
      if (!sequences.includes(record.sequence) || record.claimedBy !== owner) continue;
      record.claimedBy = undefined;
      record.availableAt = Date.now() + delayMs;
    }
  }

  async cleanup(olderThan: Date): Promise<number> {
    let removed = 0;
    for (let i = this.#records.length - 1; i >= 0; i--) {
      const sentAt = this.#records[i]!.sentAt;
      if (sentAt && sentAt < olderThan) {
        this.#records.splice(i, 1);
        removed++;
      }
    }
    return removed;
  }

  async backlog(): Promise<OutboxBacklog[]> {
    const byDestination = new Map<string, OutboxBacklog>();
    for (const record of this.#records) {
      if (record.sentAt) continue;
      const entry = byDestination.get(record.destination);
      // Records are kept in write order: the first one seen is the oldest.
      if (entry) entry.pending++;
      else
        byDestination.set(record.destination, {
          destination: record.destination,
          pending: 1,
          oldestCreatedAt: record.createdAt,
        });
    }
    return [...byDestination.values()].sort((a, b) => (a.destination < b.destination ? -1 : 1));
  }

  /** Unsent records (for tests and the operator). */
  pending(): number {
    return this.#records.filter((r) => !r.sentAt).length;
  }

  onWrite(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
