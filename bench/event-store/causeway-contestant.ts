import type { EventStore, NewEvent } from 'causeway';
import {
  EVENT_TYPE,
  READ_PAGE_SIZE,
  StreamVersions,
  eventData,
  seedInBatches,
  streamFor,
  type Contestant,
} from './workload.js';

function newEvents(writer: number, i: number, size: number): NewEvent[] {
  return Array.from({ length: size }, (_, k) => ({
    type: EVENT_TYPE,
    data: eventData(writer, i, k),
  }));
}

/** An `EventStore` as any application holds it; shared by the SQLite and PostgreSQL columns. */
export function causewayContestant(store: EventStore, close: () => Promise<void>): Contestant {
  const versions = new StreamVersions();
  const append = async (stream: string, events: NewEvent[]) => {
    await store.appendToStream(stream, events, {
      expectedVersion: versions.take(stream, events.length),
    });
  };
  return {
    appendOne: (writer, i) => append(streamFor(writer, i), newEvents(writer, i, 1)),
    appendBatch: (writer, i, size) => append(streamFor(writer, i), newEvents(writer, i, size)),
    seed: (count) => seedInBatches(count, (stream, size) => append(stream, newEvents(0, 0, size))),
    readAll: async () => {
      let count = 0;
      for await (const _event of store.readAll({ pageSize: READ_PAGE_SIZE })) count++;
      return count;
    },
    close,
  };
}
