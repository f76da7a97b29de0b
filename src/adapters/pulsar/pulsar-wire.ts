import type { WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo } from '../../messaging/message.js';
import { failureFromJson } from '../../messaging/dead-letters.js';

/**
 * Pulsar has no CloudEvents binding of its own; we follow the Kafka binding's binary mode
 * (`ce_` prefixed attributes) with message properties as the headers, which is what Pulsar's
 * Kafka-on-Pulsar bridges and most CloudEvents tooling for Pulsar read.
 */
export const CE_PREFIX = 'ce_';

/** Retry bookkeeping carried by a message re-sent to a group's retry topic. */
export const ATTEMPT_PROPERTY = 'causeway-attempt';
export const FIRST_FAILURE_PROPERTY = 'causeway-first-failure-at';
export const LAST_ERROR_PROPERTY = 'causeway-last-error';
/** The whole `FailureInfo` as JSON on a dead letter. */
export const FAILURE_PROPERTY = 'causeway-failure';

/** A message as Pulsar's WebSocket consumer and reader hand it over. */
export interface WsIncoming {
  messageId: string;
  /** Base64 of the payload bytes. */
  payload: string;
  properties?: Record<string, string>;
  publishTime?: string;
  redeliveryCount?: number;
  key?: string;
}

/** What the WebSocket producer accepts (one JSON text frame per message). */
export interface WsOutgoing {
  payload: string;
  properties: Record<string, string>;
  context: string;
  key?: string;
  /** Broker-side delay: the message is dispatched this many ms after it is stored. */
  deliverAfterMs?: number;
}

/** The message as it travelled: properties are the headers, the payload is the body. */
export function toWireMessage(incoming: WsIncoming): WireMessage {
  return {
    headers: { ...incoming.properties },
    body: Buffer.from(incoming.payload, 'base64').toString('utf8'),
  };
}

/**
 * The routing key: the partition key, so `Key_Shared` keeps a key on one consumer. Keyless
 * messages take their id, which spreads them over the group (an empty key would pin every
 * keyless message to a single consumer).
 */
export function routingKey(headers: Readonly<Record<string, string>>): string | undefined {
  return headers[`${CE_PREFIX}partitionkey`] ?? headers[`${CE_PREFIX}id`];
}

export function toOutgoing(
  wire: WireMessage,
  context: string,
  extra: { properties?: Record<string, string>; deliverAfterMs?: number } = {},
): WsOutgoing {
  const out: WsOutgoing = {
    payload: Buffer.from(wire.body, 'utf8').toString('base64'),
    properties: { ...wire.headers, ...extra.properties },
    context,
  };
  const key = routingKey(wire.headers);
  if (key !== undefined) out.key = key;
  if (extra.deliverAfterMs !== undefined && extra.deliverAfterMs > 0)
    out.deliverAfterMs = Math.round(extra.deliverAfterMs);
  return out;
}

/** The headers of the original message, without Causeway's retry and dead-letter properties. */
export function originalHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !isOwnProperty(name)));
}

function isOwnProperty(name: string): boolean {
  // (REAL_TOPIC / ORIGIN_MESSAGE_ID are added by Pulsar's own dead-letter policy)
  return name.startsWith('causeway-') || name === 'REAL_TOPIC' || name === 'ORIGIN_MESSAGE_ID';
}

export function failureProperties(failure: FailureInfo): Record<string, string> {
  return {
    'causeway-reason': failure.reason,
    'causeway-error-class': failure.errorClass,
    'causeway-attempts': String(failure.attempts),
    'causeway-destination': failure.destination,
    'causeway-group': failure.group,
    [FAILURE_PROPERTY]: JSON.stringify(failure),
  };
}

/**
 * `ledgerId:entryId` of a WebSocket message id (base64 of Pulsar's `MessageIdData` protobuf:
 * field 1 ledger, field 2 entry, both varints). The admin API names messages this way, so
 * the two views of a dead letter can be matched.
 */
export function entryOf(messageId: string): string {
  const bytes = Buffer.from(messageId, 'base64');
  const fields = new Map<number, bigint>();
  let at = 0;
  const varint = () => {
    let value = 0n;
    for (let shift = 0n; at < bytes.length; shift += 7n) {
      const byte = bytes[at++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
    }
    return value;
  };
  while (at < bytes.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    const type = tag & 7;
    if (type === 0) fields.set(field, varint());
    else if (type === 2) at += Number(varint());
    else if (type === 1) at += 8;
    else if (type === 5) at += 4;
    else break;
  }
  const ledger = fields.get(1);
  const entry = fields.get(2);
  if (ledger === undefined || entry === undefined)
    throw new Error(`Not a Pulsar message id: ${messageId}`);
  return `${ledger}:${entry}`;
}

/** Reads a dead letter's failure property back, with its dates. */
export function parseFailure(value: string | undefined): FailureInfo | undefined {
  return value === undefined ? undefined : failureFromJson(value);
}
