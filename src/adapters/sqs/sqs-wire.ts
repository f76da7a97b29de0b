import { createHash } from 'node:crypto';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { WireMessage } from '../../messaging/binary-codec.js';

/**
 * CloudEvents binary mode on SQS and SNS: each attribute is a `String` message attribute named
 * `ce-<attribute>` (the HTTP binding's spelling, valid in SQS attribute names), the content type
 * is `content-type`, `data` is the body.
 */
export const CE_PREFIX = 'ce-';
/** Holds, as one JSON object, the headers that did not fit the attribute limit. */
export const OVERFLOW_ATTRIBUTE = 'causeway-overflow';
/** SQS and SNS (raw delivery) carry at most 10 message attributes per message. */
export const MAX_ATTRIBUTES = 10;

/**
 * Which headers keep their own attribute when there are more than the limit: the ones any
 * CloudEvents reader needs, and `ce-type`, which SNS filter policies match on. The rest (and any
 * value SQS cannot carry as an attribute, such as an empty string) overflow into one JSON one.
 */
const PRIORITY = [
  'ce-id',
  'ce-type',
  'ce-specversion',
  'ce-source',
  'ce-time',
  'content-type',
  'ce-partitionkey',
  'ce-subject',
  'causeway-reason',
];
const NAME = /^(?!aws\.|amazon\.)[A-Za-z0-9_\-.]{1,256}$/i;

/** The headers as at most `MAX_ATTRIBUTES` string attributes (see `PRIORITY` for which stay). */
export function toAttributes(
  headers: Readonly<Record<string, string>>,
): Record<string, MessageAttributeValue> {
  const carried = Object.entries(headers).filter(
    ([name, value]) => NAME.test(name) && !name.includes('..') && value.length > 0,
  );
  const rank = (name: string) => {
    const at = PRIORITY.indexOf(name);
    return at === -1 ? PRIORITY.length : at;
  };
  carried.sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const carriedNames = new Set(carried.map(([name]) => name));
  const overflowing = Object.entries(headers).filter(([name]) => !carriedNames.has(name));
  const room =
    overflowing.length > 0 || carried.length > MAX_ATTRIBUTES ? MAX_ATTRIBUTES - 1 : MAX_ATTRIBUTES;
  overflowing.push(...carried.splice(room));
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of carried)
    attributes[name] = { DataType: 'String', StringValue: value };
  if (overflowing.length > 0)
    attributes[OVERFLOW_ATTRIBUTE] = {
      DataType: 'String',
      StringValue: JSON.stringify(Object.fromEntries(overflowing)),
    };
  return attributes;
}

/** Reads attributes back into headers, unpacking the overflow attribute. */
export function fromAttributes(
  attributes: Readonly<Record<string, MessageAttributeValue>> | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {};
  let overflow: string | undefined;
  for (const [name, value] of Object.entries(attributes ?? {})) {
    const text = value.StringValue;
    if (text === undefined) continue;
    if (name === OVERFLOW_ATTRIBUTE) overflow = text;
    else headers[name] = text;
  }
  if (overflow !== undefined) {
    try {
      const unpacked = JSON.parse(overflow) as unknown;
      if (typeof unpacked === 'object' && unpacked !== null)
        for (const [name, value] of Object.entries(unpacked))
          if (typeof value === 'string') headers[name] = value;
    } catch {
      // A foreign producer's attribute of that name: keep it as it came.
      headers[OVERFLOW_ATTRIBUTE] = overflow;
    }
  }
  return headers;
}

/**
 * The size SQS and SNS count against their limit: the body plus, per attribute, its name, its
 * data type and its value, all as UTF-8 bytes.
 */
export function wireSize(
  body: string,
  attributes: Readonly<Record<string, MessageAttributeValue>>,
): number {
  let size = Buffer.byteLength(body);
  for (const [name, value] of Object.entries(attributes))
    size +=
      Buffer.byteLength(name) +
      Buffer.byteLength(value.DataType ?? '') +
      Buffer.byteLength(value.StringValue ?? '');
  return size;
}

/** A wire message ready for `SendMessage`/`Publish`, with its size and FIFO ids. */
export interface OutgoingWire {
  /** The CloudEvents id, for error messages and as the FIFO deduplication id. */
  messageId: string | undefined;
  body: string;
  attributes: Record<string, MessageAttributeValue>;
  size: number;
  /** FIFO only: the partition key, or the message id for keyless messages (no ordering). */
  groupId: string;
  deduplicationId: string;
}

/** The fields an SQS `SendMessageBatch` and an SNS `PublishBatch` entry share. */
export function batchEntryFields(wire: OutgoingWire, index: number, fifo: boolean) {
  return {
    Id: String(index),
    MessageAttributes: wire.attributes,
    ...(fifo ? { MessageGroupId: wire.groupId, MessageDeduplicationId: wire.deduplicationId } : {}),
  };
}

/** Prepares a wire message; `deduplicationId` defaults to the message id. */
export function outgoing(
  wire: WireMessage,
  fallbackId: string,
  deduplicationId?: string,
): OutgoingWire {
  const attributes = toAttributes(wire.headers);
  const messageId = wire.headers[`${CE_PREFIX}id`];
  return {
    messageId,
    body: wire.body,
    attributes,
    size: wireSize(wire.body, attributes),
    groupId: fifoId(wire.headers[`${CE_PREFIX}partitionkey`] ?? messageId ?? fallbackId),
    deduplicationId: fifoId(deduplicationId ?? messageId ?? fallbackId),
  };
}

/**
 * FIFO group and deduplication ids are at most 128 characters of ASCII letters, digits and
 * punctuation: other characters become `_XX` escapes, longer ids keep their start and a hash.
 */
function fifoId(value: string): string {
  const safe = value.replace(/[^\x21-\x7e]|_/g, (c) =>
    c === '_' ? '__' : `_${c.codePointAt(0)!.toString(16)}`,
  );
  if (safe.length <= 128 && safe.length > 0) return safe;
  return `${safe.slice(0, 100)}~${shortHash(value)}`;
}

/** A short stable hash, to keep names and ids that had to be shortened apart. */
export function shortHash(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}
