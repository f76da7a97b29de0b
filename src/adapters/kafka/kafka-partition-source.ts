import { ValidationError } from '../../core/errors.js';
import { decodeBinary } from '../../messaging/binary-codec.js';
import type { Message } from '../../messaging/message.js';
import { Handoff } from '../../streams/sources/handoff.js';
import type { SourceReadOptions, StreamSource } from '../../streams/ports.js';
import { recordFromMessage, type StreamRecord } from '../../streams/record.js';
import type { KafkaRecord } from './kafka-group-reader.js';
import { CE_PREFIX, readHeaders } from './kafka-wire.js';

export interface PartitionSourceHooks {
  /** The record was taken off the queue (the runner's fetch credit). */
  taken(): void;
  /** The state holding every record up to `offset` is committed: commit `offset + 1` to Kafka. */
  committed(offset: bigint): Promise<void>;
  /** A record that is not a CloudEvent: reported, then skipped. */
  undecodable(record: KafkaRecord, error: Error): void;
  key?: (message: Message) => unknown;
  timestamp?: (message: Message) => number;
}

/**
 * One Kafka partition as a stream source, for the one task that owns the partition. Its
 * position is `<source>:<partition>:<offset>`, committed with the partition's state; Kafka's
 * own group offset follows each commit but may lag it (a crash in between), so on assignment
 * the fetch starts at Kafka's offset and the records at or below the state's position are
 * skipped: the partition resumes exactly where its state stands.
 */
export class KafkaPartitionSource implements StreamSource {
  readonly #queue = new Handoff<KafkaRecord>(Number.POSITIVE_INFINITY);

  constructor(
    readonly name: string,
    readonly partition: number,
    private readonly hooks: PartitionSourceHooks,
  ) {}

  /** Called by the runner's fetch loop with each record of this partition. */
  offer(record: KafkaRecord): void {
    void this.#queue.push(record);
  }

  /** The partition left this process: records still queued are dropped (read again by the next owner). */
  close(): number {
    this.#queue.close();
    return this.#queue.drainRemaining().length;
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
    // Offsets only move forward: a fetch restarted at Kafka's (lagging) group offset after a
    // rebalance hands over records this task already read; they are skipped, not re-counted.
    let last = after === undefined ? -1n : this.#offsetOf(after);
    for await (const record of this.#queue.take(signal)) {
      this.hooks.taken();
      if (record.offset <= last) continue;
      last = record.offset;
      const raw = { headers: readHeaders(record.headers), body: record.value ?? '' };
      let message: Message;
      try {
        message = decodeBinary(raw, CE_PREFIX);
      } catch (error) {
        this.hooks.undecodable(record, error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      const out: StreamRecord = recordFromMessage(
        message,
        `${this.name}:${this.partition}:${record.offset}`,
      );
      if (this.hooks.key) out.key = this.hooks.key(message);
      if (this.hooks.timestamp) out.timestamp = this.hooks.timestamp(message);
      yield out;
    }
  }

  acknowledge(position: string): Promise<void> {
    return this.hooks.committed(this.#offsetOf(position));
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
