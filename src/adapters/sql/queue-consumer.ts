import { tryDecodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo } from '../../messaging/message.js';
import { alreadySettled, type ConsumerHandle, type Delivery } from '../../messaging/transport.js';

/*
 * The consumer side shared by the SQL transports (SQLite, PostgreSQL). A queue table holds one
 * row per message and group; a consumer claims available rows under a lease, hands them to the
 * runtime, and settles each with one statement. The SQL differs per database; the polling,
 * wake-ups and lease upkeep here do not.
 */

/** CloudEvents binary mode headers, as on HTTP: `ce-` attributes. */
export const HEADER_PREFIX = 'ce-';

/** A claimed row: the message as published plus its delivery state for this group. */
export interface ClaimedRow extends WireMessage {
  position: number;
  attempt: number;
  firstFailureAt: Date | undefined;
}

/** Identifies the rows one consumer holds. */
export interface Lease {
  destination: string;
  group: string;
  consumerId: string;
}

/** The statements one SQL dialect provides. Settling only touches rows the lease still holds. */
export interface QueueStore {
  /** Creates the group's rows for the whole log the first time the group consumes. */
  join(destination: string, group: string): Promise<void>;
  claim(lease: Lease, limit: number, leaseMs: number): Promise<ClaimedRow[]>;
  extend(lease: Lease, positions: readonly number[], leaseMs: number): Promise<void>;
  ack(lease: Lease, position: number): Promise<void>;
  retry(lease: Lease, position: number, delayMs: number, firstFailureAt: Date): Promise<void>;
  release(lease: Lease, position: number): Promise<void>;
  deadLetter(lease: Lease, row: ClaimedRow, failure: FailureInfo): Promise<void>;
}

export interface PollingOptions {
  /** The longest a consumer waits before looking for work nobody told it about. */
  pollIntervalMs: number;
  /** How long a claim holds a row; renewed while held, so only a dead consumer's rows expire. */
  leaseMs: number;
}

/** A consumer's source of work: claims rows while it has room, settles them through the store. */
class QueuePoller {
  readonly #held = new Set<number>();
  #stopped = false;
  #polling: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout;

  constructor(
    private readonly store: QueueStore,
    private readonly lease: Lease,
    private readonly prefetch: number,
    private readonly options: PollingOptions,
    private readonly onDelivery: (delivery: Delivery) => void,
    private readonly onSettled: () => void,
  ) {
    this.#heartbeat = setInterval(() => void this.#extend(), Math.max(10, options.leaseMs / 3));
    this.#heartbeat.unref();
  }

  get done(): boolean {
    return this.#stopped && this.#held.size === 0;
  }

  /** Looks for work now (or right after the poll that is running). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#polling) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#polling = this.#poll().finally(() => {
      this.#polling = undefined;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        this.wake();
      } else {
        this.#timer = setTimeout(() => this.wake(), this.options.pollIntervalMs);
      }
    });
  }

  /** Stops claiming; held rows keep their lease until the runtime settles them. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#polling;
    if (this.#held.size === 0) clearInterval(this.#heartbeat);
  }

  /** Driver closed: nothing is renewed any more, held rows come back when their lease ends. */
  close(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
  }

  async #poll(): Promise<void> {
    const room = this.prefetch - this.#held.size;
    // Claim in batches: every settle wakes the poller, and claiming the one free slot each
    // time costs a claim transaction per message (a write, so an fsync on SQLite). With rows
    // in hand, wait until half the prefetch is free; with none, take whatever there is.
    if (room < (this.#held.size === 0 ? 1 : Math.ceil(this.prefetch / 2))) return;
    let rows: ClaimedRow[];
    try {
      rows = await this.store.claim(this.lease, room, this.options.leaseMs);
    } catch {
      // The database is unreachable or busy: the next poll tries again, nothing was claimed.
      return;
    }
    rows.sort((a, b) => a.position - b.position);
    for (const row of rows) {
      this.#held.add(row.position);
      this.onDelivery(this.#delivery(row));
    }
  }

  async #extend(): Promise<void> {
    if (this.#held.size === 0) {
      if (this.#stopped) clearInterval(this.#heartbeat);
      return;
    }
    try {
      await this.store.extend(this.lease, [...this.#held], this.options.leaseMs);
    } catch {
      // A missed renewal is retried at the next beat; the lease is three beats long.
    }
  }

  #delivery(row: ClaimedRow): Delivery {
    const { message, decodeError } = tryDecodeBinary(row, HEADER_PREFIX);
    let settled = false;
    const settle = async (work: () => Promise<void>) => {
      if (settled) throw alreadySettled(message);
      settled = true;
      try {
        await work();
      } finally {
        // Settled or not, the row is no longer ours to renew: if settling failed, the lease
        // runs out and the message is delivered again (at-least-once).
        this.#held.delete(row.position);
        if (this.done) clearInterval(this.#heartbeat);
        this.onSettled();
      }
    };
    const { store, lease } = this;
    return {
      message,
      decodeError,
      raw: { headers: row.headers, body: row.body },
      attempt: row.attempt,
      firstFailureAt: row.firstFailureAt,
      ack: () => settle(() => store.ack(lease, row.position)),
      release: () => settle(() => store.release(lease, row.position)),
      retry: (delayMs, failure) =>
        settle(async () => {
          await store.retry(lease, row.position, delayMs, row.firstFailureAt ?? failure.at);
          this.onRetry(delayMs);
        }),
      deadLetter: (failure) => settle(() => store.deadLetter(lease, row, failure)),
    };
  }

  /** Set by the hub: a local retry wakes the group when its delay is over. */
  onRetry: (delayMs: number) => void = () => undefined;
}

/**
 * The consumers of one driver. Work this process creates (a publish, a settle that frees a key,
 * a retry coming due) wakes the consumers concerned at once; work from other processes is
 * found by the next poll (or, on PostgreSQL, a NOTIFY calls `wakeAll`).
 */
export class QueueHub {
  readonly #pollers = new Map<string, Set<QueuePoller>>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly store: QueueStore,
    private readonly options: PollingOptions,
  ) {}

  async consume(
    destination: string,
    group: string,
    consumerId: string,
    prefetch: number,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle> {
    await this.store.join(destination, group);
    const key = groupKey(destination, group);
    const lease = { destination, group, consumerId };
    const poller = new QueuePoller(this.store, lease, prefetch, this.options, onDelivery, () =>
      this.wakeGroup(destination, group),
    );
    poller.onRetry = (delayMs) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.wakeGroup(destination, group);
      }, delayMs);
      this.#timers.add(timer);
    };
    let members = this.#pollers.get(key);
    if (!members) this.#pollers.set(key, (members = new Set()));
    members.add(poller);
    poller.wake();
    return {
      stop: async () => {
        members.delete(poller);
        await poller.stop();
      },
    };
  }

  wakeGroup(destination: string, group: string): void {
    for (const poller of this.#pollers.get(groupKey(destination, group)) ?? []) poller.wake();
  }

  wakeDestination(destination: string): void {
    const prefix = groupKey(destination, '');
    for (const [key, members] of this.#pollers) {
      if (key.startsWith(prefix)) for (const poller of members) poller.wake();
    }
  }

  wakeAll(): void {
    for (const members of this.#pollers.values()) for (const poller of members) poller.wake();
  }

  close(): void {
    for (const members of this.#pollers.values()) for (const poller of members) poller.close();
    this.#pollers.clear();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

function groupKey(destination: string, group: string): string {
  // Names cannot contain a NUL (see createTransport), so the pair is unambiguous.
  return `${destination}\u0000${group}`;
}

/** The failure record as stored (JSON, times as ISO strings) and read back. */
export function parseFailure(json: string | object): FailureInfo {
  const raw = (typeof json === 'string' ? JSON.parse(json) : json) as Omit<
    FailureInfo,
    'firstFailureAt' | 'lastFailureAt' | 'errorStack'
  > & { firstFailureAt: string; lastFailureAt: string; errorStack?: string | null };
  return {
    ...raw,
    errorStack: raw.errorStack ?? undefined,
    firstFailureAt: new Date(raw.firstFailureAt),
    lastFailureAt: new Date(raw.lastFailureAt),
  };
}

/** A dead letter as the SQL transports return it. */
export interface SqlDeadLetter {
  id: number;
  destination: string;
  group: string;
  message: WireMessage;
  failure: FailureInfo;
  createdAt: Date;
}
