import { ValidationError } from '../../core/errors.js';
import { decodeBinary } from '../../messaging/binary-codec.js';
import type { Message } from '../../messaging/message.js';
import type { SourceReadOptions, StreamSource } from '../../streams/ports.js';
import { recordFromMessage, type StreamRecord } from '../../streams/record.js';
import type { KafkaRecord } from './kafka-group-reader.js';
import { CE_PREFIX, readHeaders } from './kafka-wire.js';

export interface PartitionSourceHooks {
  /** Records left the buffer (covered by a commit, or dropped with the partition). */
  released(count: number): void;
  /** The state holding every record up to `offset` is committed: commit `offset + 1` to Kafka. */
  committed(offset: bigint): Promise<void>;
  /** A record that is not a CloudEvent: reported, then skipped. */
  undecodable(record: KafkaRecord, error: Error): void;
  key?: (message: Message) => unknown;
  timestamp?: (message: Message) => number;
}

/**
 * One Kafka partition as a stream source, while this process owns the partition. Its
 * position is `<source>:<partition>:<offset>`, committed with the partition's state; Kafka's
 * own group offset follows each commit but may lag it (a crash in between), so records at
 * or below the state's position are skipped: the partition resumes exactly where its state
 * stands. Records stay buffered until a commit covers them, so a task restarted over the
 * same partition (after a rebalance) reads again the ones its predecessor had not committed.
 */
export class KafkaPartitionSource implements StreamSource {
  /** Fetched and not yet covered by a commit, in arrival order. */
  #buffer: KafkaRecord[] = [];
  /** The absolute index of `#buffer[0]`: readers keep absolute indexes across trims. */
  #base = 0;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(
    readonly name: string,
    readonly partition: number,
    private readonly hooks: PartitionSourceHooks,
  ) {}

  /** Called by the runner's fetch loop with each record of this partition. */
  offer(record: KafkaRecord): void {
    this.#buffer.push(record);
    this.#wake?.();
  }

  /** The partition left this process: the buffer is dropped (the next owner reads it again). */
  close(): void {
    this.#closed = true;
    this.clear();
  }

  /** The offset of the first record buffered, if any. */
  get firstOffset(): bigint | undefined {
    return this.#buffer[0]?.offset;
  }

  /** Drops the buffered records, before any task read them (the fetch is sent back to re-read them). */
  clear(): void {
    const dropped = this.#buffer.length;
    this.#base += dropped;
    this.#buffer = [];
    this.#wake?.();
    this.hooks.released(dropped);
  }

  async *read(
    after: string | undefined,
    { signal, follow = false }: SourceReadOptions = {},
  ): AsyncIterable<StreamRecord> {
    if (!follow) {
      throw new ValidationError('Kafka sources run live only', [
        { path: ['sources', this.name], message: 'use StreamTask.run(signal)' },
      ]);
    }
    // Offsets only move forward: a fetch restarted at Kafka's (lagging) group offset hands
    // over records already read; they are skipped, not counted again.
    let last = after === undefined ? -1n : this.#offsetOf(after);
    let next = this.#base;
    const wake = () => this.#wake?.();
    signal?.addEventListener('abort', wake);
    try {
      for (;;) {
        if (signal?.aborted || this.#closed) return;
        next = Math.max(next, this.#base);
        const record = this.#buffer[next - this.#base];
        if (record === undefined) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
          continue;
        }
        next++;
        if (record.offset <= last) continue;
        last = record.offset;
        const decoded = this.#decode(record);
        if (decoded) yield decoded;
      }
    } finally {
      signal?.removeEventListener('abort', wake);
    }
  }

  /** Drops the records the commit covers, then moves Kafka's group offset after them. */
  async acknowledge(position: string): Promise<void> {
    const offset = this.#offsetOf(position);
    let covered = 0;
    while (covered < this.#buffer.length && this.#buffer[covered]!.offset <= offset) covered++;
    this.#buffer.splice(0, covered);
    this.#base += covered;
    this.hooks.released(covered);
    await this.hooks.committed(offset);
  }

  #decode(record: KafkaRecord): StreamRecord | undefined {
    const raw = { headers: readHeaders(record.headers), body: record.value ?? '' };
    let message: Message;
    try {
      message = decodeBinary(raw, CE_PREFIX);
    } catch (error) {
      this.hooks.undecodable(record, error instanceof Error ? error : new Error(String(error)));
      return undefined;
    }
    const out: StreamRecord = recordFromMessage(
      message,
      `${this.name}:${this.partition}:${record.offset}`,
    );
    if (this.hooks.key) out.key = this.hooks.key(message);
    if (this.hooks.timestamp) out.timestamp = this.hooks.timestamp(message);
    return out;
  }

  #offsetOf(position: string): bigint {
    const prefix = `${this.name}:${this.partition}:`;
    if (position.startsWith(prefix)) {
      const offset = position.slice(prefix.length);
      if (/^\d+$/.test(offset)) return BigInt(offset);
    }
    throw new ValidationError('Invalid source position', [
      {
        path: ['position'],
        message: `"${position}" is not a position of partition ${this.partition} of source "${this.name}"`,
      },
    ]);
  }
}
