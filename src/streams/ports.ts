import type { OutputRecord, StreamRecord } from './record.js';

/**
 * Where a topology's records come from: an event-store subscription, a transport consumer,
 * a table. A source resumes after a position the state backend committed, so the source
 * position, the state and the outputs move forward together.
 */
export interface StreamSource {
  readonly name: string;
  /** Records after `position` (from the beginning when `undefined`), in order. */
  read(after: string | undefined, signal?: AbortSignal): AsyncIterable<StreamRecord>;
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
    return record;
  }

  async *read(after: string | undefined): AsyncIterable<StreamRecord> {
    let index = after === undefined ? 0 : Number(after.slice(this.name.length + 1)) + 1;
    while (index < this.#records.length) yield this.#records[index++] as StreamRecord;
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
