import { ACK, type RedisCommands } from './redis-scripts.js';

/** Ids per `ACK` script call: well under Lua's unpack limit, and a short script run. */
const MAX_IDS_PER_CALL = 1_000;

/** The ids of one stream sent in one `ACK` call, and the promise every one of their acks gets. */
class AckChunk {
  readonly ids: string[] = [];
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;

  constructor(
    readonly stream: string,
    readonly remove: boolean,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/**
 * Gathers one consumer's acks until the promise jobs queued with them have run, and sends them
 * as one `ACK` script per stream (`XACK` with every id, `XDEL` too on the group's retry stream).
 * The runtime acks handlers that finished together one by one; a script per entry cost Redis a
 * Lua call and this process a command per message. Each ack still resolves only once Redis
 * answered the call that carried it: the acks of one call share that call's promise (one
 * promise per call rather than one per message, which showed in the consumer's CPU time).
 */
export class RedisAckBatch {
  /** The chunk still taking ids, per stream: [keep the entries, delete them too]. */
  readonly #open = [new Map<string, AckChunk>(), new Map<string, AckChunk>()] as const;
  /** Chunks that reached `MAX_IDS_PER_CALL` in this turn. */
  #full: AckChunk[] = [];
  #scheduled = false;

  constructor(
    private readonly client: RedisCommands,
    private readonly group: string,
  ) {}

  /** Acks `id` on `stream`, deleting it there too when `remove` (only per stream, see `flush`). */
  ack(stream: string, id: string, remove: boolean): Promise<void> {
    const open = this.#open[remove ? 1 : 0];
    let chunk = open.get(stream);
    if (!chunk) {
      chunk = new AckChunk(stream, remove);
      open.set(stream, chunk);
    }
    // The script passes its ids to XACK with `unpack`, which Lua refuses past ~8,000 values
    // ("too many results to unpack"), and a large prefetch can finish that many in one turn.
    // Each chunk is its own call, so a failure fails only the acks it carried.
    if (chunk.ids.push(id) === MAX_IDS_PER_CALL) {
      open.delete(stream);
      this.#full.push(chunk);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      // Once the promise jobs queued now have run: the handlers that finished with this one
      // (a burst read together) have acked too, and no I/O turn delays the acks.
      process.nextTick(() => this.#flush());
    }
    return chunk.done;
  }

  #flush(): void {
    this.#scheduled = false;
    const chunks = this.#full;
    this.#full = [];
    for (const open of this.#open) {
      chunks.push(...open.values());
      open.clear();
    }
    for (const chunk of chunks) {
      ACK.run(
        this.client,
        [chunk.stream],
        [this.group, chunk.remove ? '1' : '0', ...chunk.ids],
      ).then(chunk.resolve, chunk.reject);
    }
  }
}
