import { currentContext } from '../core/context.js';
import { DEFAULT_CONTENT_TYPE, DEFAULT_SOURCE, EXTENSION_ATTRIBUTES } from '../core/envelope.js';
import { SerializationError, ValidationError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { serializeJson } from '../core/serializer.js';
import type { Message, OutgoingMessage } from './message.js';

/**
 * CloudEvents binary mode: attributes travel as headers (with the protocol's prefix, e.g.
 * `ce_` for Kafka, `ce-` for HTTP and NATS, `cloudEvents:` for AMQP), `data` as the body and
 * `datacontenttype` as the content type. Any CloudEvents SDK can read what we write.
 */
export interface WireMessage {
  headers: Record<string, string>;
  body: string;
}

const NAME = /^[a-z0-9]{1,20}$/;

/** Fills the defaults of an outgoing message; correlation and causation come from the ambient context. */
export function toMessage(outgoing: OutgoingMessage, now: Date = new Date()): Message {
  const ambient = currentContext();
  const issues: { path: string[]; message: string }[] = [];
  if (typeof outgoing.type !== 'string' || outgoing.type.length === 0)
    issues.push({ path: ['type'], message: 'must be a non-empty string' });
  for (const name of Object.keys(outgoing.extensions ?? {})) {
    if (!NAME.test(name))
      issues.push({
        path: ['extensions', name],
        message: 'extension names are 1-20 lower-case letters or digits',
      });
  }
  if (issues.length > 0) throw new ValidationError('Invalid message', issues);
  const message: Message = {
    id: outgoing.id ?? newId(),
    source: outgoing.source ?? DEFAULT_SOURCE,
    type: outgoing.type,
    specversion: '1.0',
    time: outgoing.time ?? now,
    datacontenttype: outgoing.datacontenttype ?? DEFAULT_CONTENT_TYPE,
    data: outgoing.data,
    extensions: { ...outgoing.extensions },
  };
  if (outgoing.subject !== undefined) message.subject = outgoing.subject;
  const inherited = {
    correlationid: ambient?.correlationId,
    causationid: ambient?.messageId,
    traceparent: ambient?.traceparent,
  };
  for (const name of EXTENSION_ATTRIBUTES) {
    const value = outgoing[name] ?? (name === 'partitionkey' ? undefined : inherited[name]);
    if (value !== undefined) message[name] = value;
  }
  return message;
}

/** The attributes every message may carry as headers, in the order they are written. */
const ATTRIBUTES = [
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'subject',
  ...EXTENSION_ATTRIBUTES,
] as const;
type HeaderNames = Record<(typeof ATTRIBUTES)[number], string>;
const headerNamesByPrefix = new Map<string, HeaderNames>();

/**
 * The prefixed header names, built once per prefix: a name concatenated per message is a new
 * string V8 must look up before it can be a property key, which made the headers object cost
 * more than serializing the data.
 */
function headerNames(prefix: string): HeaderNames {
  let names = headerNamesByPrefix.get(prefix);
  if (!names) {
    names = Object.fromEntries(ATTRIBUTES.map((name) => [name, prefix + name])) as HeaderNames;
    headerNamesByPrefix.set(prefix, names);
  }
  return names;
}

export function encodeBinary(message: Message, prefix: string): WireMessage {
  const names = headerNames(prefix);
  const headers: Record<string, string> = {};
  headers[names.specversion] = '1.0';
  headers[names.id] = message.id;
  headers[names.source] = message.source;
  headers[names.type] = message.type;
  headers[names.time] = message.time.toISOString();
  headers['content-type'] = message.datacontenttype;
  if (message.subject !== undefined) headers[names.subject] = message.subject;
  for (const name of EXTENSION_ATTRIBUTES) {
    const value = message[name];
    if (value !== undefined) headers[names[name]] = value;
  }
  for (const [name, value] of Object.entries(message.extensions))
    headers[`${prefix}${name}`] = value;
  return {
    headers,
    body: serializeJson(message.data, `data of message ${message.id} (${message.type})`),
  };
}

/**
 * The prefixed names of every attribute this codec reads itself; any other header with the
 * prefix is an extension. Built once per prefix, like `headerNames`.
 */
const knownByPrefix = new Map<string, ReadonlySet<string>>();

function knownHeaders(prefix: string): ReadonlySet<string> {
  let known = knownByPrefix.get(prefix);
  if (!known) {
    known = new Set(ATTRIBUTES.map((name) => prefix + name));
    knownByPrefix.set(prefix, known);
  }
  return known;
}

/**
 * Reads a message back; anything missing or malformed is a `SerializationError` naming it.
 * Every consumer of every broker runs this once per message, so header names come from the
 * per-prefix caches and the headers are walked once (no names built per message).
 */
/** A received message decoded, or the reason it could not be (the consumer dead-letters it). */
export type DecodeOutcome =
  { message: Message; decodeError: undefined } | { message: undefined; decodeError: Error };

/** `decodeBinary` for a consumer: a poison message is an outcome to dead-letter, not a throw. */
export function tryDecodeBinary(wire: WireMessage, prefix: string): DecodeOutcome {
  try {
    return { message: decodeBinary(wire, prefix), decodeError: undefined };
  } catch (error) {
    return {
      message: undefined,
      decodeError: error instanceof Error ? error : new Error(String(error)),
    };
  }
}

export function decodeBinary(wire: WireMessage, prefix: string): Message {
  const names = headerNames(prefix);
  const headers = wire.headers;
  const specversion = headers[names.specversion];
  const id = headers[names.id];
  const source = headers[names.source];
  const type = headers[names.type];
  const timeText = headers[names.time];
  if (
    specversion === undefined ||
    id === undefined ||
    source === undefined ||
    type === undefined ||
    timeText === undefined
  ) {
    const missing = [names.specversion, names.id, names.source, names.type, names.time].filter(
      (name) => headers[name] === undefined,
    );
    throw new SerializationError(`Not a CloudEvent: missing ${missing.join(', ')}`);
  }
  if (specversion !== '1.0')
    throw new SerializationError(`Unsupported CloudEvents specversion "${specversion}"`);
  const time = new Date(timeText);
  if (!Number.isFinite(time.getTime()))
    throw new SerializationError(`Invalid ${names.time} "${timeText}"`);
  const contentType = headers['content-type'] ?? DEFAULT_CONTENT_TYPE;
  let data: unknown;
  try {
    data = JSON.parse(wire.body) as unknown;
  } catch (cause) {
    throw new SerializationError(`Body of message ${id} is not valid JSON (${contentType})`, {
      cause,
    });
  }
  const message: Message = {
    id,
    source,
    type,
    specversion: '1.0',
    time,
    datacontenttype: contentType,
    data,
    extensions: {},
  };
  const subject = headers[names.subject];
  if (subject !== undefined) message.subject = subject;
  for (const name of EXTENSION_ATTRIBUTES) {
    const value = headers[names[name]];
    if (value !== undefined) message[name] = value;
  }
  const known = knownHeaders(prefix);
  for (const name of Object.keys(headers)) {
    if (name.startsWith(prefix) && !known.has(name))
      message.extensions[name.slice(prefix.length)] = headers[name]!;
  }
  return message;
}
