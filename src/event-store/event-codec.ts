import { DEFAULT_CONTENT_TYPE, DEFAULT_SOURCE, EXTENSION_ATTRIBUTES } from '../core/envelope.js';
import { EventTooLargeError, ValidationError, type ValidationIssue } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { deserializeJson, serializeJson } from '../core/serializer.js';
import type { Clock } from '../core/clock.js';
import { currentContext, type MessageContext } from '../core/context.js';
import type { EventRegistry } from './event-registry.js';
import type { EventStoreLimits } from './limits.js';
import type { NewEvent, RecordedEvent } from './types.js';

/**
 * The one place that decides how an event becomes a row and a row becomes an event, so the
 * three adapters store byte-identical data and differ only in SQL.
 */
export interface PreparedEvent {
  id: string;
  type: string;
  source: string;
  subject: string;
  time: Date;
  datacontenttype: string;
  /** `data` as JSON text. */
  data: string;
  /** Extension attributes and free-form metadata as JSON text. */
  metadata: string;
  schemaVersion: number;
}

/** A stored event as any adapter reads it back. */
export interface EventRow {
  id: string;
  streamId: string;
  streamVersion: number;
  globalPosition: number;
  type: string;
  source: string;
  subject: string;
  time: Date;
  datacontenttype: string;
  data: string;
  metadata: string;
  schemaVersion: number;
}

export interface PrepareContext {
  registry: EventRegistry;
  limits: EventStoreLimits;
  clock: Clock;
  source?: string;
}

const MAX_ATTRIBUTE_LENGTH = 255;
// Control characters break logs and terminals, and PostgreSQL text rejects NUL outright.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** What is wrong with an envelope attribute (`type`, `id`, `source`, `subject`), if anything. */
function attributeProblem(value: unknown, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ATTRIBUTE_LENGTH) {
    return `must be a non-empty string of at most ${MAX_ATTRIBUTE_LENGTH} characters`;
  }
  return CONTROL_CHARS.test(value) ? 'must not contain control characters' : undefined;
}

/**
 * Validates and serializes a batch before anything touches the database. Any problem throws
 * a typed error naming the event index and field; nothing is written.
 */
export async function prepareEvents(
  streamId: string,
  events: readonly NewEvent[],
  context: PrepareContext,
): Promise<PreparedEvent[]> {
  if (!Array.isArray(events)) {
    throw new ValidationError('Invalid append', [
      { path: ['events'], message: 'must be an array of events' },
    ]);
  }
  const issues: ValidationIssue[] = [];
  const seenIds = new Set<string>();
  const prepared: PreparedEvent[] = [];
  const now = context.clock.now();
  const ambient = currentContext();

  for (const [index, event] of events.entries()) {
    const at = ['events', index];
    if (typeof event !== 'object' || event === null) {
      issues.push({ path: at, message: 'must be an object with `type` and `data`' });
      continue;
    }
    const id = event.id ?? newId();
    const attributeIssue = (
      [
        ['type', event.type, true],
        ['id', id, true],
        ['source', event.source, false],
        ['subject', event.subject, false],
      ] as const
    )
      .map(([name, value, required]) => ({ name, problem: attributeProblem(value, required) }))
      .find((check) => check.problem !== undefined);
    if (attributeIssue) {
      issues.push({ path: [...at, attributeIssue.name], message: attributeIssue.problem! });
      continue;
    }
    if (seenIds.has(id)) {
      issues.push({
        path: [...at, 'id'],
        message: `duplicates the id of an earlier event in this append (${id})`,
      });
      continue;
    }
    seenIds.add(id);
    if (
      event.time !== undefined &&
      !(event.time instanceof Date && Number.isFinite(event.time.getTime()))
    ) {
      issues.push({ path: [...at, 'time'], message: 'must be a valid Date' });
      continue;
    }
    const contentType = event.datacontenttype ?? DEFAULT_CONTENT_TYPE;
    if (!isJsonContentType(contentType)) {
      issues.push({
        path: [...at, 'datacontenttype'],
        message: `only JSON content is stored, got "${contentType}"`,
      });
      continue;
    }
    const badExtension = EXTENSION_ATTRIBUTES.find(
      (name) => event[name] !== undefined && typeof event[name] !== 'string',
    );
    if (badExtension) {
      issues.push({ path: [...at, badExtension], message: 'must be a string' });
      continue;
    }
    if (
      event.metadata !== undefined &&
      (typeof event.metadata !== 'object' ||
        event.metadata === null ||
        Array.isArray(event.metadata))
    ) {
      issues.push({ path: [...at, 'metadata'], message: 'must be a plain object' });
      continue;
    }

    let data: unknown;
    try {
      data = await context.registry.validate(event.type, event.data, [...at, 'data']);
    } catch (error) {
      if (error instanceof ValidationError) {
        issues.push(...error.issues);
        continue;
      }
      throw error;
    }
    const dataJson = serializeJson(data, `data of event ${index} (${event.type})`);
    const metadataJson = serializeJson(
      encodeMetadata(event, ambient),
      `metadata of event ${index} (${event.type})`,
    );
    const size = Buffer.byteLength(dataJson) + Buffer.byteLength(metadataJson);
    if (size > context.limits.maxEventSize) {
      throw new EventTooLargeError(event.type, size, context.limits.maxEventSize, index);
    }
    prepared.push({
      id,
      type: event.type,
      source: event.source ?? context.source ?? DEFAULT_SOURCE,
      subject: event.subject ?? streamId,
      time: event.time ?? now,
      datacontenttype: contentType,
      data: dataJson,
      metadata: metadataJson,
      schemaVersion: context.registry.currentVersion(event.type),
    });
  }
  if (issues.length > 0) throw new ValidationError('Invalid events', issues);
  return prepared;
}

function isJsonContentType(contentType: string): boolean {
  const base = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return base === 'application/json' || base.endsWith('+json') || base === 'text/json';
}

interface StoredMetadata {
  correlationid?: string;
  causationid?: string;
  traceparent?: string;
  partitionkey?: string;
  metadata?: Record<string, unknown>;
}

/**
 * Extension attributes and metadata as stored. Whatever the event leaves unset is taken from
 * the ambient message context (the command being handled): its id becomes the causation,
 * its correlation id and user flow through. Values set on the event always win.
 */
function encodeMetadata(event: NewEvent, ambient: MessageContext | undefined): StoredMetadata {
  const out: StoredMetadata = {};
  const inherited: Partial<Record<(typeof EXTENSION_ATTRIBUTES)[number], string | undefined>> = {
    correlationid: ambient?.correlationId,
    causationid: ambient?.messageId,
    traceparent: ambient?.traceparent,
  };
  for (const name of EXTENSION_ATTRIBUTES) {
    const value = event[name] ?? inherited[name];
    if (value !== undefined) out[name] = value;
  }
  const metadata = {
    ...(ambient?.userId === undefined ? {} : { userId: ambient.userId }),
    ...ambient?.metadata,
    ...event.metadata,
  };
  if (Object.keys(metadata).length > 0) out.metadata = metadata;
  return out;
}

/** Turns a stored row into the event handlers see, upcasting `data` to the current schema. */
export function decodeEvent(row: EventRow, registry: EventRegistry): RecordedEvent {
  const stored = deserializeJson(row.metadata, `metadata of event ${row.id}`) as StoredMetadata;
  const metadata = stored.metadata ?? {};
  const upcast = registry.upcast(
    row.type,
    deserializeJson(row.data, `data of event ${row.id}`),
    row.schemaVersion,
    metadata,
  );
  const event: RecordedEvent = {
    id: row.id,
    source: row.source,
    type: row.type,
    specversion: '1.0',
    time: row.time,
    subject: row.subject,
    datacontenttype: row.datacontenttype,
    data: upcast.data,
    metadata,
    streamId: row.streamId,
    streamVersion: row.streamVersion,
    globalPosition: row.globalPosition,
    schemaVersion: upcast.version,
  };
  for (const name of EXTENSION_ATTRIBUTES) {
    const value = stored[name];
    if (value !== undefined) event[name] = value;
  }
  return event;
}
