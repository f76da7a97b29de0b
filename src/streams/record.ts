import type { RecordedEvent } from '../event-store/types.js';
import type { Message } from '../messaging/message.js';

/**
 * The one record type every operator sees, whatever the input was (a transport `Message`, a
 * stored `RecordedEvent`, a test pipe). `position` names where the record came from
 * (`<source>:<offset>`); outputs derive their message ids from it, so a replay after a crash
 * produces the same ids and downstream inboxes drop the duplicates.
 */
export interface StreamRecord<K = unknown, V = unknown> {
  key: K;
  value: V;
  /** Event time, epoch milliseconds. Windows and watermarks use this, never the wall clock. */
  timestamp: number;
  position: string;
  headers: Readonly<Record<string, string>>;
}

/** A window's bounds: `[start, end)` for time windows; for sessions, first and last event time. */
export interface TimeWindow {
  start: number;
  end: number;
}

/** The key of a windowed aggregate's output: the grouping key and its window. */
export interface Windowed<K> {
  key: K;
  window: TimeWindow;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** Headers a record carries from its envelope: the CloudEvents attributes worth keeping. */
function envelopeHeaders(
  event: Pick<Message, 'id' | 'type' | 'source'> & { extensions?: Record<string, string> },
  extra: Record<string, string | undefined>,
): Record<string, string> {
  const headers: Record<string, string> = {
    'ce-id': event.id,
    'ce-type': event.type,
    'ce-source': event.source,
  };
  for (const [name, value] of Object.entries({ ...event.extensions, ...extra })) {
    if (value !== undefined) headers[`ce-${name}`] = value;
  }
  return headers;
}

/**
 * Adapts a transport message: the key is its `partitionkey` (then `subject`, then `null`),
 * the value its `data`, the timestamp its envelope `time`.
 */
export function recordFromMessage<V = unknown>(
  message: Message<V>,
  position: string,
): StreamRecord<string | null, V> {
  return {
    key: message.partitionkey ?? message.subject ?? null,
    value: message.data,
    timestamp: message.time.getTime(),
    position,
    headers: envelopeHeaders(message, {
      correlationid: message.correlationid,
      causationid: message.causationid,
      traceparent: message.traceparent,
    }),
  };
}

/**
 * Adapts a stored event: the key is its stream id, the position its global position, so
 * a subscription's checkpoint and the record's position are the same number.
 */
export function recordFromEvent<V = unknown>(
  event: RecordedEvent<V>,
  source: string,
): StreamRecord<string, V> {
  return {
    key: event.streamId,
    value: event.data,
    timestamp: event.time.getTime(),
    position: `${source}:${event.globalPosition}`,
    headers: envelopeHeaders(event, {
      correlationid: event.correlationid,
      causationid: event.causationid,
      streamversion: String(event.streamVersion),
    }),
  };
}

/** A plain record for tests and in-memory sources. */
export function streamRecord<K, V>(
  key: K,
  value: V,
  timestamp: number,
  position: string,
  headers: Readonly<Record<string, string>> = NO_HEADERS,
): StreamRecord<K, V> {
  return { key, value, timestamp, position, headers };
}

/**
 * The identity of a key inside state stores: strings as they are, anything else as JSON.
 * Keys must therefore be JSON-serialisable with a stable property order.
 */
export function keyIdOf(key: unknown): string {
  return typeof key === 'string' ? key : JSON.stringify(key);
}

/**
 * A record on its way to a sink. `id` is derived from the topology, the sink and the
 * record's `position` (its input position, window or join pair), so reprocessing the same
 * input after a crash yields the same message ids and consumers de-duplicate on them.
 */
export interface OutputRecord<K = unknown, V = unknown> extends StreamRecord<K, V> {
  sink: string;
  id: string;
}
