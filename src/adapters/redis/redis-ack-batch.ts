import { ACK, type RedisCommands } from './redis-scripts.js';

/** What an ack names: the entry's stream, its id, and whether it is deleted too (retry stream). */
export interface AckedEntry {
  key: string;
  id: string;
  fromRetryStream: boolean;
}

/** Ids per `ACK` script call: well under Lua's unpack limit, and a short script run. */
const MAX_IDS_PER_CALL = 1_000;

/** The ids of one stream sent in one `ACK` call, and the promise every one of their acks gets. */
class AckChunk<E extends AckedEntry> {
  readonly entries: E[] = [];
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
 * answered the call that carried it: the acks of one call share that call's promise, and
 * `answered` hears of each entry just before it settles (one promise per call rather than one
 * or two per message, which showed in the consumer's CPU time).
 */
export class RedisAckBatch<E extends AckedEntry = AckedEntry> {
  /** The chunk still taking ids, per stream: [keep the entries, delete them too]. */
  readonly #open = [new Map<string, AckChunk<E>>(), new Map<string, AckChunk<E>>()] as const;
  /** Chunks that reached `MAX_IDS_PER_CALL` in this turn. */
  #full: AckChunk<E>[] = [];
  #scheduled = false;

  /**
   * @param answered Called for every entry once Redis answered (or failed) the call that
   *   carried its ack, before the ack's promise settles: the read loop's prefetch count.
   */
  constructor(
    private readonly client: RedisCommands,
    private readonly group: string,
    private readonly answered: (entry: E) => void = () => undefined,
  ) {}

  /** Acks the entry, deleting it too when it came from the group's retry stream. */
  ack(entry: E): Promise<void> {
    const { key: stream, fromRetryStream: remove } = entry;
    const open = this.#open[remove ? 1 : 0];
    let chunk = open.get(stream);
    if (!chunk) {
      chunk = new AckChunk<E>(stream, remove);
      open.set(stream, chunk);
    }
    // The script passes its ids to XACK with `unpack`, which Lua refuses past ~8,000 values
    // ("too many results to unpack"), and a large prefetch can finish that many in one turn.
    // Each chunk is its own call, so a failure fails only the acks it carried.
    if (chunk.entries.push(entry) === MAX_IDS_PER_CALL) {
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
      const ids = chunk.entries.map((entry) => entry.id);
      ACK.run(this.client, [chunk.stream], [this.group, chunk.remove ? '1' : '0', ...ids]).then(
        () => this.#answer(chunk, () => chunk.resolve()),
        (error: unknown) => this.#answer(chunk, () => chunk.reject(error)),
      );
    }
  }

  /** Tells `answered` of every entry of the chunk, then settles the chunk's acks. */
  #answer(chunk: AckChunk<E>, settle: () => void): void {
    try {
      for (const entry of chunk.entries) this.answered(entry);
    } finally {
      settle();
    }
  }
}
