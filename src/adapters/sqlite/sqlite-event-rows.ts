import { deserializeJson } from '../../core/serializer.js';
import type { EventRow } from '../../event-store/event-codec.js';
import type { StreamInfo, StreamMetadata, StreamState } from '../../event-store/types.js';

/** How the SQLite event store's rows look when read, and how they become kernel values. */

/**
 * Event rows are read as arrays (`raw` statements) and turned into objects here: better-sqlite3
 * builds a 12-property object per row several times slower than a literal does.
 */
export type RawEventRow = [
  globalPosition: number,
  id: string,
  streamId: string,
  streamVersion: number,
  type: string,
  source: string,
  subject: string,
  time: number,
  datacontenttype: string,
  data: string,
  metadata: string,
  schemaVersion: number,
];
export const EVENT_COLUMNS = `global_position, id, stream_id, stream_version, type, source, subject,
  time, datacontenttype, data, metadata, schema_version`;

export const STREAM_COLUMNS = `stream_id AS streamId, version, state, metadata,
  created_at AS createdAt, updated_at AS updatedAt`;

export interface RawStreamRow {
  streamId: string;
  version: number;
  state: StreamState;
  metadata: string;
  createdAt: number;
  updatedAt: number;
}

export function toEventRow(raw: RawEventRow): EventRow {
  return {
    globalPosition: raw[0],
    id: raw[1],
    streamId: raw[2],
    streamVersion: raw[3],
    type: raw[4],
    source: raw[5],
    subject: raw[6],
    time: new Date(raw[7]),
    datacontenttype: raw[8],
    data: raw[9],
    metadata: raw[10],
    schemaVersion: raw[11],
  };
}

export function toStreamInfo(row: RawStreamRow): StreamInfo {
  return {
    streamId: row.streamId,
    version: row.version,
    state: row.state,
    metadata: deserializeJson(row.metadata, `metadata of stream ${row.streamId}`) as StreamMetadata,
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
  };
}
