import type { MessageProperties, Options } from 'amqplib';
import { encodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo, Message } from '../../messaging/message.js';

/**
 * The CloudEvents AMQP binding, binary mode: attributes are application properties named
 * `cloudEvents:<attribute>`, `datacontenttype` is the AMQP `content-type`, data is the body.
 * The binding also allows `cloudEvents_` (JMS-friendly); we write `:` and read both.
 */
export const CE_PREFIX = 'cloudEvents:';
const CE_ALT_PREFIX = 'cloudEvents_';

/** Causeway's own headers: retry bookkeeping and the dead-letter record. */
export const ATTEMPT_HEADER = 'x-causeway-attempt';
export const FIRST_FAILURE_HEADER = 'x-causeway-first-failure-at';
export const LAST_ERROR_HEADER = 'x-causeway-last-error';
export const FAILURE_HEADER = 'x-causeway-failure';
export const DEAD_LETTER_ID_HEADER = 'x-causeway-dead-letter-id';
export const DEAD_LETTERED_AT_HEADER = 'x-causeway-dead-lettered-at';

/** Destination and group names never contain `/` (see `createTransport`), so it separates them. */
export function deadLetterRoute(destination: string, group: string): string {
  return `${destination}/${group}`;
}

export function parseDeadLetterRoute(routingKey: string): { destination: string; group: string } {
  const at = routingKey.lastIndexOf('/');
  return at < 0
    ? { destination: routingKey, group: '' }
    : { destination: routingKey.slice(0, at), group: routingKey.slice(at + 1) };
}

export function toPublish(message: Message): { body: Buffer; options: Options.Publish } {
  const wire = encodeBinary(message, CE_PREFIX);
  const { 'content-type': contentType, ...headers } = wire.headers;
  return {
    body: Buffer.from(wire.body, 'utf8'),
    options: {
      persistent: true,
      contentType: contentType ?? message.datacontenttype,
      messageId: message.id,
      timestamp: Math.floor(message.time.getTime() / 1000),
      type: message.type,
      headers,
    },
  };
}

/** The message as it travelled: string-valued CloudEvents headers plus the content type. */
export function toWire(content: Buffer, properties: MessageProperties): WireMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(properties.headers ?? {})) {
    const attribute = name.startsWith(CE_PREFIX)
      ? name.slice(CE_PREFIX.length)
      : name.startsWith(CE_ALT_PREFIX)
        ? name.slice(CE_ALT_PREFIX.length)
        : undefined;
    if (attribute === undefined) continue;
    headers[`${CE_PREFIX}${attribute}`] = Buffer.isBuffer(value)
      ? value.toString('utf8')
      : String(value);
  }
  if (typeof properties.contentType === 'string') headers['content-type'] = properties.contentType;
  return { headers, body: content.toString('utf8') };
}

/** A copy of a received message's properties for republishing (retry or dead letter). */
export function republishOptions(
  properties: MessageProperties,
  extraHeaders: Record<string, unknown>,
  /** Drops Causeway's retry and failure headers too: the copy starts over at attempt 1. */
  fresh = false,
): Options.Publish {
  const pattern = fresh ? CAUSEWAY_OR_BROKER_HEADERS : BROKER_HEADERS;
  const kept = Object.entries(properties.headers ?? {}).filter(([name]) => !pattern.test(name));
  const options: Options.Publish = {
    persistent: true,
    headers: { ...Object.fromEntries(kept), ...extraHeaders },
  };
  if (properties.contentType !== undefined) options.contentType = properties.contentType as string;
  if (properties.messageId !== undefined) options.messageId = properties.messageId as string;
  if (properties.timestamp !== undefined) options.timestamp = properties.timestamp as number;
  if (properties.type !== undefined) options.type = properties.type as string;
  return options;
}

/** Headers the broker adds on dead-lettering and redelivery; a republished copy starts clean. */
const BROKER_HEADERS = /^x-(death|delivery-count|first-death-.*|last-death-.*)$/;
const CAUSEWAY_OR_BROKER_HEADERS =
  /^x-(causeway-.*|death|delivery-count|first-death-.*|last-death-.*)$/;

export function headerNumber(headers: Record<string, unknown>, name: string): number | undefined {
  const value = headers[name];
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export function headerDate(headers: Record<string, unknown>, name: string): Date | undefined {
  const value = headers[name];
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : value;
  if (typeof text !== 'string') return undefined;
  const date = new Date(text);
  return Number.isFinite(date.getTime()) ? date : undefined;
}

export function failureHeader(failure: FailureInfo): string {
  return JSON.stringify({
    ...failure,
    firstFailureAt: failure.firstFailureAt.toISOString(),
    lastFailureAt: failure.lastFailureAt.toISOString(),
  });
}
