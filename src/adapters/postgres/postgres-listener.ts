import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Client, ClientConfig } from 'pg';
import { sleep } from '../../core/retry.js';

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/** A lock the LISTEN connection holds for as long as someone `hold`s it (a session lock). */
const LOCK = 'SELECT pg_advisory_lock_shared($1::int4, hashtext($2::text))';
const UNLOCK = 'SELECT pg_advisory_unlock_shared($1::int4, hashtext($2::text))';

interface HeldLock {
  lockClass: number;
  key: string;
  /** How many `hold` calls have not released it yet. */
  holders: number;
}

/**
 * One dedicated connection that LISTENs on the store's channel and calls every registered
 * listener when a commit is announced. It connects when the first listener arrives. When the
 * connection drops it reconnects with exponential backoff; meanwhile subscriptions keep
 * polling, and after reconnecting every listener is called once, because notifications sent
 * while we were away are lost.
 */
export class NotificationListener {
  readonly #config: ClientConfig;
  readonly #channel: string;
  /** Notifications carrying this payload come from our own process, already announced. */
  readonly #ownPayload: string;
  /** Called with the notification's payload; `undefined` when it may have been missed. */
  readonly #listeners = new Set<(payload?: string) => void>();
  /** The advisory locks this connection holds shared (see `hold`), by class and key. */
  readonly #held = new Map<string, HeldLock>();
  #client: Client | undefined;
  #connecting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #started = false;
  #closed = false;

  constructor(config: ClientConfig, channel: string, ownPayload: string) {
    this.#config = config;
    this.#channel = channel;
    this.#ownPayload = ownPayload;
  }

  /** True while the LISTEN connection is up (for tests and health checks). */
  get connected(): boolean {
    return this.#client !== undefined && this.#connecting === undefined;
  }

  add(listener: (payload?: string) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#started && !this.#closed) {
      this.#started = true;
      this.#connect();
    }
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Holds the advisory lock (`lockClass`, `hashtext(key)`) shared on the LISTEN connection until
   * the returned function is called: publishers of other sessions try it to learn whether
   * anyone listens (see the transport's migration 13). Taken when the connection is up (after
   * its LISTEN), again after every reconnect; each time it is granted the listeners are called,
   * since a commit made while it was not held may have gone unannounced. Holds of one lock are
   * counted, so the session holds it once. The connection itself is opened by `add`.
   */
  hold(lockClass: number, key: string): () => void {
    const id = `${lockClass} ${key}`;
    let lock = this.#held.get(id);
    if (lock) lock.holders++;
    else {
      lock = { lockClass, key, holders: 1 };
      this.#held.set(id, lock);
      // While connecting, the connection takes every held lock once its LISTEN is done.
      if (this.#client && this.#connecting === undefined) void this.#take(this.#client, lock);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--lock.holders > 0) return;
      this.#held.delete(id);
      // Queued behind any pending take of it on this connection; unheld, it is a no-op.
      this.#client?.query(UNLOCK, [lock.lockClass, lock.key]).catch(() => undefined);
    };
  }

  /** Calls every listener now (used for commits made through this process). */
  notify(payload?: string): void {
    for (const listener of [...this.#listeners]) listener(payload);
  }

  /** Waits until listening (or the first attempt failed); for tests that need a live channel. */
  async ready(): Promise<void> {
    await this.#connecting;
  }

  /** Drops the connection as a network failure would; it reconnects by itself. */
  simulateConnectionLoss(): void {
    this.#client?.emit('error', new Error('simulated connection loss'));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #connect(): void {
    const client = new pg.Client(this.#config);
    this.#client = client;
    client.on('notification', (message) => {
      if (message.channel === this.#channel && message.payload !== this.#ownPayload)
        this.notify(message.payload);
    });
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    this.#connecting = (async () => {
      try {
        await client.connect();
        await client.query(`LISTEN "${this.#channel}"`);
        // Locks held while this loop runs are visited too (a Map iterates what is added).
        for (const lock of this.#held.values())
          await client.query(LOCK, [lock.lockClass, lock.key]);
        this.#failures = 0;
        this.#connecting = undefined;
        if (this.#closed) return;
        this.notify();
      } catch {
        this.#connecting = undefined;
        this.#lost(client);
      }
    })();
  }

  async #take(client: Client, lock: HeldLock, failures = 0): Promise<void> {
    const wanted = () =>
      !this.#closed &&
      this.#client === client &&
      this.#held.get(`${lock.lockClass} ${lock.key}`) === lock;
    try {
      await client.query(LOCK, [lock.lockClass, lock.key]);
    } catch {
      // A lost connection is retaken whole by the reconnect. A live one whose query failed
      // (`lock_timeout`, `statement_timeout`, a cancelled backend, a full lock table) would
      // leave publishers skipping the NOTIFY for good: take this lock again after a backoff,
      // on the same connection (dropping it would cost every other destination its wake-ups).
      if (!wanted()) return;
      // Meanwhile the consumers poll; wake them now for what may have gone unannounced.
      this.notify();
      const delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** failures);
      const timer = setTimeout(() => {
        if (wanted()) void this.#take(client, lock, failures + 1);
      }, delay);
      timer.unref();
      return;
    }
    if (wanted()) this.notify();
  }

  #lost(client: Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    if (this.#closed) return;
    const delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** this.#failures);
    this.#failures++;
    this.#timer = setTimeout(() => {
      if (!this.#closed) this.#connect();
    }, delay);
    // A pending reconnect must not keep the process alive on its own.
    this.#timer.unref();
  }
}

/**
 * Sends wake-up announcements (a NOTIFY, through `send`) for commits, coalesced: calls while
 * one is being sent collapse into one more after it, and a busy announcer starts sends at
 * least `gapMs` apart. Every NOTIFY is a transaction and wakes every listening session of the
 * database, so one per publish cost a single-message publisher a third of its rate; a woken
 * consumer claims everything available anyway. The last call is always followed by a send
 * that starts after it (at most `gapMs` later), so no commit goes unannounced.
 */
export class Announcer {
  readonly #send: () => Promise<void>;
  readonly #gapMs: number;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(send: () => Promise<void>, gapMs: number) {
    this.#send = send;
    this.#gapMs = gapMs;
  }

  announce(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop();
  }

  /** Stops announcing; resolves once the send under way (if any) finished. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      const started = performance.now();
      await this.#send().catch(() => undefined);
      // A timer truncates its delay to whole ms and may fire just before it by the clock we
      // measure with: sleep until the gap has really passed.
      let wait = this.#gapMs - (performance.now() - started);
      while (this.#again && !this.#closed && wait > 0) {
        await sleep(Math.ceil(wait));
        wait = this.#gapMs - (performance.now() - started);
      }
    } while (this.#again && !this.#closed);
    this.#running = undefined;
  }
}
