import { ACK, type RedisCommands } from './redis-scripts.js';

/** Ids per `ACK` script call: well under Lua's unpack limit, and a short script run. */
const MAX_IDS_PER_CALL = 1_000;

interface PendingAcks {
  ids: string[];
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

/**
 * Gathers one consumer's acks until the promise jobs queued with them have run, and sends them
 * as one `ACK` script per stream (`XACK` with every id, `XDEL` too on the group's retry stream).
 * The runtime acks handlers that finished together one by one; a script per entry cost Redis a
 * Lua call and this process a command per message. Each ack still resolves only once Redis
 * answered the batch that carried it.
 */
export class RedisAckBatch {
  readonly #pending = new Map<string, PendingAcks>();
  #scheduled = false;

  constructor(
    private readonly client: RedisCommands,
    private readonly group: string,
  ) {}

  /** Acks `id` on `stream`, deleting it there too when `remove` (only per stream, see `flush`). */
  ack(stream: string, id: string, remove: boolean): Promise<void> {
    const key = `${remove ? '1' : '0'}${stream}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = { ids: [], waiters: [] };
      this.#pending.set(key, pending);
    }
    pending.ids.push(id);
    const done = new Promise<void>((resolve, reject) => pending.waiters.push({ resolve, reject }));
    if (!this.#scheduled) {
      this.#scheduled = true;
      // Once the promise jobs queued now have run: the handlers that finished with this one
      // (a burst read together) have acked too, and no I/O turn delays the acks.
      process.nextTick(() => this.#flush());
    }
    return done;
  }

  #flush(): void {
    this.#scheduled = false;
    for (const [key, { ids, waiters }] of this.#pending) {
      // The script passes its ids to XACK with `unpack`, which Lua refuses past ~8,000 values
      // ("too many results to unpack"), and a large prefetch can finish that many in one turn.
      // Each chunk is its own call, so a failure fails only the acks it carried.
      for (let start = 0; start < ids.length; start += MAX_IDS_PER_CALL) {
        const end = start + MAX_IDS_PER_CALL;
        const chunk = waiters.slice(start, end);
        ACK.run(this.client, [key.slice(1)], [this.group, key[0]!, ...ids.slice(start, end)]).then(
          () => chunk.forEach((w) => w.resolve()),
          (error: unknown) => chunk.forEach((w) => w.reject(error)),
        );
      }
    }
    this.#pending.clear();
  }
}
