import type { OutputRecord, StreamRecord } from './record.js';

/** How a task reads a source. */
export interface SourceReadOptions {
  /** Ends the read: the iterator finishes (it does not throw) once the signal aborts. */
  signal?: AbortSignal;
  /**
   * `false` (what `StreamTask.runToEnd` asks): end after the records held now. `true` (what
   * `StreamTask.run` asks): after them, wait for new records until `signal` aborts.
   */
  follow?: boolean;
}

/**
 * Where a topology's records come from: an event-store subscription, a transport consumer,
 * a table. A source resumes after a position the state backend committed, so the source
 * position, the state and the outputs move forward together.
 */
export interface StreamSource {
  readonly name: string;
  /** Records after `position` (from the beginning when `undefined`), in order. */
  read(after: string | undefined, options?: SourceReadOptions): AsyncIterable<StreamRecord>;
  /**
   * Called once a commit holds the effects of every record read up to and including the one
   * at `position`: a broker-backed source acknowledges those deliveries now, never earlier,
   * so a crash before the commit gets them delivered again.
   */
  acknowledge?(position: string): Promise<void>;
  /**
   * For sources whose broker may deliver a record again after its commit (the process died
   * between commit and acknowledgement): the record's identity. The task remembers the
   * identities of recent records in the committed state and skips a second delivery, so a
   * redelivered record is never counted twice.
   */
  redeliveryId?(record: StreamRecord): string;
}

/**
 * Where outputs go when the state backend does not own them (a transport, an event store,
 * a SQL table). Writes must be idempotent on `OutputRecord.id`: after a crash the records
 * since the last commit are written again, with the same ids.
 */
export interface StreamSink {
  readonly name: string;
  write(records: readonly OutputRecord[]): Promise<void>;
}

/** A finite source over an array, for tests and examples; positions are `<name>:<index>`. */
export class MemoryStreamSource<K = unknown, V = unknown> implements StreamSource {
  readonly #records: StreamRecord<K, V>[] = [];
  #wake: (() => void)[] = [];
  constructor(readonly name: string) {}

  /** Appends a record; its position is assigned here. */
  push(
    key: K,
    value: V,
    timestamp: number,
    headers: Readonly<Record<string, string>> = {},
  ): StreamRecord<K, V> {
    const record = {
      key,
      value,
      timestamp,
      position: `${this.name}:${this.#records.length}`,
      headers,
    };
    this.#records.push(record);
    const waiting = this.#wake;
    this.#wake = [];
    for (const wake of waiting) wake();
    return record;
  }

  async *read(
    after: string | undefined,
    { signal, follow = false }: SourceReadOptions = {},
  ): AsyncIterable<StreamRecord> {
    let index = after === undefined ? 0 : Number(after.slice(this.name.length + 1)) + 1;
    for (;;) {
      while (index < this.#records.length && !signal?.aborted)
        yield this.#records[index++] as StreamRecord;
      if (!follow || signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.#wake.push(done);
        signal?.addEventListener('abort', done);
      });
    }
  }
}

/** Collects what it is given, keeping the first record per id (as an idempotent sink must). */
export class MemoryStreamSink implements StreamSink {
  readonly records: OutputRecord[] = [];
  readonly #ids = new Set<string>();
  constructor(readonly name: string) {}
  async write(records: readonly OutputRecord[]): Promise<void> {
    for (const record of records) {
      if (this.#ids.has(record.id)) continue;
      this.#ids.add(record.id);
      this.records.push(record);
    }
  }
}
