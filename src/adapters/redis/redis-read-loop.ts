import { setTimeout as sleep } from 'node:timers/promises';
import { redeliveryLimitFailure } from '../../messaging/dead-letters.js';
import type { Delivery } from '../../messaging/transport.js';
import type { StreamEntry } from './redis-delivery.js';
import { isReplyError } from './redis-keys.js';
import {
  CLAIM_IDLE,
  KEEP_ALIVE,
  MOVE_DUE,
  REMOVE_IDLE_CONSUMERS,
  type RedisCommands,
} from './redis-scripts.js';

export interface ReadLoopSettings {
  destination: string;
  group: string;
  consumer: string;
  /** The destination's stream and the group's retry stream, read together. */
  streams: readonly [main: string, retry: string];
  delayedKey: string;
  prefetch: number;
  blockMs: number;
  claimMinIdleMs: number;
  claimIntervalMs: number;
  retryPollIntervalMs: number;
  maxDeliveries: number;
  onError: (error: unknown) => void;
  /** Creates the groups again: Redis restarted without persistence and lost them. */
  recreateGroups: () => Promise<void>;
}

/** Raw `XREADGROUP` reply (RESP2): per stream, its entries; `null` when BLOCK timed out. */
type ReadReply = [key: string, entries: [id: string, fields: string[] | null][]][] | null;
type ClaimReply = [
  next: string,
  entries: [string, string[]][],
  deleted: string[],
  counts: number[],
];

const MOVE_LIMIT = 100;

/**
 * One consumer of a group: reads the destination's stream and the group's retry stream with a
 * blocking `XREADGROUP` on its own connection (a blocked connection can do nothing else), never
 * more than `prefetch` entries unsettled. Between reads it claims entries that other consumers
 * left idle too long (`XAUTOCLAIM`: they crashed); a heartbeat keeps its own entries from being
 * claimed while handlers run; a poller moves due retries from the delayed set into the retry
 * stream, which wakes the blocked read.
 */
export class RedisReadLoop {
  /** Entries handed out and not settled yet (the very objects the deliveries settle with). */
  readonly #unsettled = new Set<StreamEntry>();
  readonly #claimFrom = new Map<string, string>();
  #stopping = false;
  #closed = false;
  #wake: (() => void) | undefined;
  #running: Promise<void> = Promise.resolve();
  #readerId: string | undefined;
  #nextClaimAt = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #pollAt = Infinity;
  #polling: Promise<void> | undefined;

  constructor(
    private readonly client: RedisCommands,
    private readonly reader: RedisCommands,
    private readonly settings: ReadLoopSettings,
    private readonly wrap: (entry: StreamEntry) => Delivery,
    private readonly onDelivery: (delivery: Delivery) => void,
  ) {}

  start(): void {
    this.#heartbeat = setInterval(
      () => void this.#keepAlive(),
      Math.max(50, Math.floor(this.settings.claimMinIdleMs / 3)),
    );
    this.#heartbeat.unref();
    this.#schedulePoll(0);
    this.#running = this.#run();
  }

  /**
   * Stops reading and moving retries; deliveries already handed out keep their heartbeat until
   * settled. The blocked read is woken with `CLIENT UNBLOCK` rather than waited out.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    let exited = false;
    const running = this.#running.then(() => (exited = true));
    while (!exited) {
      // Repeated: an UNBLOCK that overtakes the XREADGROUP it targets does nothing.
      if (this.#readerId !== undefined)
        await this.client.sendCommand(['CLIENT', 'UNBLOCK', this.#readerId]).catch(() => undefined);
      await Promise.race([running, sleep(25)]);
    }
    await this.#polling;
    if (this.#unsettled.size === 0) {
      clearInterval(this.#heartbeat);
      // Nothing left under our name: leave the group tidy (otherwise a later sweep does it).
      await this.#removeIdleConsumers(this.settings.consumer).catch(this.settings.onError);
    }
  }

  /** Forgets every delivery (the connection is closing). */
  close(): void {
    this.#closed = true;
    this.#stopping = true;
    this.#wake?.();
    clearInterval(this.#heartbeat);
    clearTimeout(this.#pollTimer);
    this.#unsettled.clear();
  }

  settled(entry: StreamEntry): void {
    this.#unsettled.delete(entry);
    if (this.#stopping && this.#unsettled.size === 0) clearInterval(this.#heartbeat);
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** An entry was given back while this loop still reads: claim it at the next turn. */
  released(): void {
    this.#nextClaimAt = 0;
  }

  /** A retry of this group is due in `ms`: poll then instead of at the next interval. */
  retryScheduled(ms: number): void {
    this.#schedulePoll(ms);
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
        if (Date.now() >= this.#nextClaimAt) {
          const claimed = await this.#claim(room);
          this.#nextClaimAt = Date.now() + this.settings.claimIntervalMs;
          if (claimed > 0) continue;
        }
        await this.#read(room);
        failures = 0;
      } catch (error) {
        // Disconnected (Redis restarting), or the stream was deleted: report, pause, go on.
        if (this.#stopping) return;
        this.settings.onError(error);
        if (isReplyError(error, 'NOGROUP'))
          await this.settings.recreateGroups().catch(this.settings.onError);
        failures++;
        await sleep(Math.min(2_000, 50 * 2 ** Math.min(failures, 6)));
        this.#nextClaimAt = 0;
      }
    }
  }

  async #read(room: number): Promise<void> {
    const { group, consumer, streams, blockMs } = this.settings;
    // Pipelined on the reader's connection, so its id (new after each reconnect) is known
    // before the read blocks, for `stop()` to unblock it.
    const id = this.reader.sendCommand<number>(['CLIENT', 'ID']).then((value) => {
      this.#readerId = String(value);
    });
    const read = this.reader.sendCommand<ReadReply>([
      'XREADGROUP',
      'GROUP',
      group,
      consumer,
      'COUNT',
      String(room),
      'BLOCK',
      String(blockMs),
      'STREAMS',
      ...streams,
      '>',
      '>',
    ]);
    // Both awaited together: a lost connection rejects both, and neither may go unhandled.
    const [, reply] = await Promise.all([id, read]);
    for (const [key, entries] of reply ?? []) {
      for (const [entryId, fields] of entries) {
        if (fields)
          this.#hand({
            key,
            fromRetryStream: key === streams[1],
            id: entryId,
            fields,
            deliveries: 1,
          });
      }
    }
  }

  /** Claims entries idle past the minimum (their consumer died); returns how many. */
  async #claim(room: number): Promise<number> {
    const { group, consumer, streams, claimMinIdleMs } = this.settings;
    let claimed = 0;
    for (const key of streams) {
      if (claimed >= room) break;
      const [next, entries, deleted, counts] = await CLAIM_IDLE.run<ClaimReply>(
        this.client,
        [key],
        [
          group,
          consumer,
          String(claimMinIdleMs),
          this.#claimFrom.get(key) ?? '0-0',
          String(room - claimed),
        ],
      );
      this.#claimFrom.set(key, next);
      if (deleted.length > 0)
        this.settings.onError(
          new Error(
            `${deleted.length} pending entries of ${key} were trimmed before ${group} settled them: ` +
              'they are lost (see maxLength)',
          ),
        );
      entries.forEach(([id, fields], i) => {
        claimed++;
        this.#hand({
          key,
          fromRetryStream: key === streams[1],
          id,
          fields,
          deliveries: counts[i] ?? 1,
        });
      });
    }
    await this.#removeIdleConsumers('');
    return claimed;
  }

  /**
   * Removes the group's consumers that hold nothing and stopped reading long ago (a live one
   * reads at least every `blockMs` or holds entries), and `now` if it holds nothing.
   */
  async #removeIdleConsumers(now: string): Promise<void> {
    const { group, streams, claimMinIdleMs, blockMs } = this.settings;
    const minIdleMs = claimMinIdleMs + 3 * blockMs;
    for (const key of streams)
      await REMOVE_IDLE_CONSUMERS.run(this.client, [key], [group, String(minIdleMs), now]);
  }

  #hand(entry: StreamEntry): void {
    this.#unsettled.add(entry);
    const delivery = this.wrap(entry);
    if (this.#stopping) return void delivery.release().catch(this.settings.onError);
    if (delivery.attempt > this.settings.maxDeliveries) {
      const { destination, group } = this.settings;
      const why = 'the handler crashed its process or outlived the claim idle time';
      return void delivery
        .deadLetter(redeliveryLimitFailure(delivery, destination, group, why))
        .catch(this.settings.onError);
    }
    this.onDelivery(delivery);
  }

  async #keepAlive(): Promise<void> {
    const byKey = new Map<string, string[]>();
    for (const entry of this.#unsettled)
      byKey.set(entry.key, [...(byKey.get(entry.key) ?? []), entry.id]);
    for (const [key, ids] of byKey) {
      await KEEP_ALIVE.run(
        this.client,
        [key],
        [this.settings.group, this.settings.consumer, ...ids],
      ).catch(this.settings.onError);
    }
  }

  #schedulePoll(ms: number): void {
    if (this.#stopping) return;
    const at = Date.now() + ms;
    if (this.#pollTimer !== undefined && this.#pollAt <= at) return;
    clearTimeout(this.#pollTimer);
    this.#pollAt = at;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#pollAt = Infinity;
      this.#polling ??= this.#moveDue().finally(() => (this.#polling = undefined));
    }, ms);
    this.#pollTimer.unref();
  }

  /** Moves due retries into the retry stream; schedules the next poll by the next due time. */
  async #moveDue(): Promise<void> {
    const interval = this.settings.retryPollIntervalMs;
    let next = interval;
    try {
      const [moved, dueIn] = await MOVE_DUE.run<[number, number]>(
        this.client,
        [this.settings.delayedKey, this.settings.streams[1]],
        [String(MOVE_LIMIT)],
      );
      if (moved >= MOVE_LIMIT) next = 0;
      else if (dueIn >= 0) next = Math.min(interval, dueIn);
    } catch (error) {
      if (!this.#closed) this.settings.onError(error);
    }
    if (!this.#closed) queueMicrotask(() => this.#schedulePoll(next));
  }
}
