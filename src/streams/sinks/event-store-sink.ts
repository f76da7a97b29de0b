import { isCausewayError } from '../../core/errors.js';
import type { EventStore } from '../../event-store/event-store.js';
import type { NewEvent } from '../../event-store/types.js';
import type { StreamSink } from '../ports.js';
import type { OutputRecord } from '../record.js';

export interface EventStoreSinkOptions {
  /** The topology's sink name. */
  name: string;
  store: Pick<EventStore, 'appendToStream'>;
  /** The stream appended to: one for all, or per record (e.g. by key). */
  stream: string | ((record: OutputRecord) => string);
  /** The events' `type`: one for all, or per record. */
  type: string | ((record: OutputRecord) => string);
  /** The event `data`; the record's value by default. */
  data?: (record: OutputRecord) => unknown;
}

/**
 * Appends outputs as events. Idempotent on the output id: each event's id is the output's
 * id, and event ids are unique across the store, so an output written again after a crash is
 * refused as a duplicate and skipped instead of stored twice. The record's key and input
 * position go to the event's metadata.
 */
export class EventStoreSink implements StreamSink {
  readonly name: string;

  constructor(private readonly options: EventStoreSinkOptions) {
    this.name = options.name;
  }

  async write(records: readonly OutputRecord[]): Promise<void> {
    // Consecutive records for one stream go in one append, keeping the outputs' order.
    let batch: NewEvent[] = [];
    let stream: string | undefined;
    for (const record of records) {
      const target = this.#stream(record);
      if (stream !== undefined && target !== stream) {
        await this.#append(stream, batch);
        batch = [];
      }
      stream = target;
      batch.push(this.#event(record));
    }
    if (stream !== undefined) await this.#append(stream, batch);
  }

  async #append(stream: string, events: NewEvent[]): Promise<void> {
    try {
      await this.options.store.appendToStream(stream, events);
    } catch (error) {
      if (!isDuplicate(error)) throw error;
      // An append is atomic, and a crash may have stored only the first part of this batch
      // (another commit split it differently): append one by one, skipping those stored.
      for (const event of events) {
        try {
          await this.options.store.appendToStream(stream, [event]);
        } catch (again) {
          if (!isDuplicate(again)) throw again;
        }
      }
    }
  }

  #stream(record: OutputRecord): string {
    const { stream } = this.options;
    return typeof stream === 'string' ? stream : stream(record);
  }

  #event(record: OutputRecord): NewEvent {
    const { type, data } = this.options;
    return {
      id: record.id,
      type: typeof type === 'string' ? type : type(record),
      data: data ? data(record) : record.value,
      time: new Date(record.timestamp),
      metadata: { key: record.key, position: record.position },
    };
  }
}

function isDuplicate(error: unknown): boolean {
  return isCausewayError(error) && error.code === 'DUPLICATE_EVENT_ID';
}
