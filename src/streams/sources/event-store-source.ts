import { MemoryCheckpointStore } from '../../event-store/checkpoint-store.js';
import type { EventStore } from '../../event-store/event-store.js';
import type { EventFilter, RecordedEvent } from '../../event-store/types.js';
import { ValidationError } from '../../core/errors.js';
import type { SourceReadOptions, StreamSource } from '../ports.js';
import { recordFromEvent, type StreamRecord } from '../record.js';
import { Handoff } from './handoff.js';

export interface EventStoreSourceOptions<K = string> {
  /** The topology's source name; positions read `<name>:<global position>`. */
  name: string;
  store: EventStore;
  /** Only these event types and/or streams with this id prefix; every event by default. */
  filter?: EventFilter;
  /** The record's key; the stream id by default. */
  key?: (event: RecordedEvent) => K;
  /** The record's event time (epoch ms); the envelope's `time` by default. */
  timestamp?: (event: RecordedEvent) => number;
  /** Events read per page (default 500). */
  batchSize?: number;
  /**
   * Live: the longest the subscription waits for an append notification before reading
   * anyway (appends by processes the store does not hear from). The store's default when omitted.
   */
  pollIntervalMs?: number;
}

/**
 * The store's global log as a stream: catch-up from the committed global position, then (when
 * the task runs live) the store's own subscription, woken by its append notifications
 * (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite and memory) rather than polling. The
 * position is the state backend's, never a checkpoint in the store: the subscription is
 * given a private checkpoint store seeded with it, so its progress moves with the state.
 */
export class EventStoreSource<K = string> implements StreamSource {
  readonly name: string;

  constructor(private readonly options: EventStoreSourceOptions<K>) {
    this.name = options.name;
  }

  async *read(
    after: string | undefined,
    { signal, follow = false }: SourceReadOptions = {},
  ): AsyncIterable<StreamRecord> {
    const { store, filter } = this.options;
    const batchSize = this.options.batchSize ?? 500;
    const from = this.#globalPosition(after);
    if (!follow) {
      let position = from;
      for (;;) {
        const page = await store.readAllPage(position, batchSize, filter);
        for (const event of page.events) {
          if (signal?.aborted) return;
          yield this.#record(event);
        }
        position = page.scannedUpTo;
        if (page.isEnd) return;
      }
    }
    const checkpoints = new MemoryCheckpointStore();
    const subscription = `causeway-streams:${this.name}`;
    await checkpoints.store(subscription, from);
    const handoff = new Handoff<RecordedEvent>(batchSize);
    const live = store.subscribe(subscription, (event) => handoff.push(event), {
      ...(filter ? { filter } : {}),
      batchSize,
      checkpoints,
      ...(this.options.pollIntervalMs === undefined
        ? {}
        : { pollIntervalMs: this.options.pollIntervalMs }),
    });
    live.done.then(
      () => handoff.close(),
      (error: unknown) => handoff.close(error),
    );
    try {
      for await (const event of handoff.take(signal)) yield this.#record(event);
    } finally {
      handoff.close();
      await live.stop();
    }
  }

  #record(event: RecordedEvent): StreamRecord {
    const record: StreamRecord = recordFromEvent(event, this.name);
    if (this.options.key) record.key = this.options.key(event);
    if (this.options.timestamp) record.timestamp = this.options.timestamp(event);
    return record;
  }

  #globalPosition(after: string | undefined): number {
    if (after === undefined) return 0;
    const position = Number(after.slice(this.name.length + 1));
    if (!after.startsWith(`${this.name}:`) || !Number.isSafeInteger(position) || position < 0) {
      throw new ValidationError('Invalid source position', [
        { path: ['position'], message: `"${after}" is not a position of source "${this.name}"` },
      ]);
    }
    return position;
  }
}
