import pg from 'pg';
import { deserializeJson } from '../../core/serializer.js';
import type { EventRow, PreparedEvent } from '../../event-store/event-codec.js';
import type {
  AppendResult,
  StreamInfo,
  StreamMetadata,
  StreamState,
} from '../../event-store/types.js';

/** How the event store's rows arrive from `pg` and become the kernel's rows. */

export type EventRecord = {
  global_position: string;
  id: string;
  stream_id: string;
  stream_version: string;
  type: string;
  source: string;
  subject: string;
  time: Date;
  datacontenttype: string;
  data: string;
  metadata: string;
  schema_version: number;
};

export type StreamRecord = {
  stream_id: string;
  version: string;
  state: StreamState;
  metadata: string;
  created_at: Date;
  updated_at: Date;
};

/** The stream's columns as `readStreamStart` repeats them on each row, timestamps as text. */
export type StreamStartRecord = {
  s_version: string;
  s_state: StreamState;
  s_metadata: string;
  s_created_at: string;
  s_updated_at: string;
};

const TIMESTAMPTZ = 1184;

export const EVENT_COLUMNS = `global_position, id, stream_id, stream_version, type, source, subject,
  time, datacontenttype, data::text AS data, metadata::text AS metadata, schema_version`;
export const STREAM_COLUMNS =
  'stream_id, version, state, metadata::text AS metadata, created_at, updated_at';

/** The rows an append wrote, as the hook sees them (what a read would return). */
export function toRows(
  streamId: string,
  events: readonly PreparedEvent[],
  result: AppendResult,
): EventRow[] {
  const firstVersion = result.nextExpectedVersion - events.length + 1;
  return events.map((event, i) => ({
    ...event,
    streamId,
    streamVersion: firstVersion + i,
    globalPosition: result.positions[i]!,
  }));
}

export function toEventRow(record: EventRecord): EventRow {
  return {
    id: record.id,
    streamId: record.stream_id,
    streamVersion: Number(record.stream_version),
    globalPosition: Number(record.global_position),
    type: record.type,
    source: record.source,
    subject: record.subject,
    time: record.time,
    datacontenttype: record.datacontenttype,
    data: record.data,
    metadata: record.metadata,
    schemaVersion: record.schema_version,
  };
}

export function toStreamInfo(record: StreamRecord): StreamInfo {
  return {
    streamId: record.stream_id,
    version: Number(record.version),
    state: record.state,
    metadata: deserializeJson(
      record.metadata,
      `metadata of stream ${record.stream_id}`,
    ) as StreamMetadata,
    createdAt: record.created_at,
    updatedAt: record.updated_at,
  };
}

/** The stream of a `readStreamStart` row; its timestamps are parsed here, once per read. */
export function toStreamStartInfo(streamId: string, record: StreamStartRecord): StreamInfo {
  const timestamp = pg.types.getTypeParser(TIMESTAMPTZ) as (value: string) => Date;
  return toStreamInfo({
    stream_id: streamId,
    version: record.s_version,
    state: record.s_state,
    metadata: record.s_metadata,
    created_at: timestamp(record.s_created_at),
    updated_at: timestamp(record.s_updated_at),
  });
}
