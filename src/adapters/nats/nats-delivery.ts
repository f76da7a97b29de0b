import type { JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { decodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import { failureFromJson } from '../../messaging/dead-letters.js';
import type { FailureInfo, Message } from '../../messaging/message.js';
import type { Delivery } from '../../messaging/transport.js';
import type { FailureRecord, NatsFailureState } from './nats-failure-state.js';

/** The NATS CloudEvents binding (binary mode) prefixes attributes with `ce-`. */
export const CE_PREFIX = 'ce-';
/** The whole `FailureInfo` as JSON: one header, since a stack trace spans lines. */
export const FAILURE_HEADER = 'causeway-failure';

const decoder = new TextDecoder();

export interface DeliveryScope {
  nc: NatsConnection;
  group: string;
  groupToken: string;
  state: NatsFailureState;
  /** Publishes to the dead-letter stream and resolves once JetStream stored it. */
  publishDeadLetter(wire: WireMessage, dedupeId: string): Promise<void>;
  /** Acks `msg`; resolves once JetStream confirmed it (a batch at a time, see `NatsAckBatch`). */
  ack(msg: JsMsg): Promise<void>;
  /** Called once the delivery is settled, whatever the outcome. */
  settled(msg: JsMsg): void;
}

/**
 * Wraps one JetStream delivery. The attempt is JetStream's delivery count minus the times the
 * delivery was given back unstarted; the first failure time rides in the failure state, both
 * read only when the message is a redelivery.
 */
export function toDelivery(msg: JsMsg, scope: DeliveryScope): Delivery | Promise<Delivery> {
  // Only a redelivery reads its failure record: a first delivery is wrapped without yielding,
  // so a burst of messages reaches the runtime in the turn it arrived in.
  if (msg.info.deliveryCount > 1)
    return scope.state
      .read(scope.groupToken, msg.info.streamSequence)
      .then((record) => wrap(msg, scope, record, true));
  return wrap(msg, scope, { firstFailureAt: undefined, releases: 0 }, false);
}

function wrap(
  msg: JsMsg,
  scope: DeliveryScope,
  record: FailureRecord,
  redelivered: boolean,
): Delivery {
  const raw = { headers: readHeaders(msg.headers), body: decoder.decode(msg.data) };
  let message: Message | undefined;
  let decodeError: Error | undefined;
  try {
    message = decodeBinary(raw, CE_PREFIX);
  } catch (error) {
    decodeError = error instanceof Error ? error : new Error(String(error));
  }
  const sequence = msg.info.streamSequence;

  let done = false;
  const settle = async (work: () => Promise<void>) => {
    if (done)
      throw new Error(`Delivery of ${message?.id ?? 'an undecodable message'} was already settled`);
    done = true;
    try {
      await work();
    } finally {
      scope.settled(msg);
    }
  };
  // Redeliveries may have a record; settling for good removes it (it would expire anyway).
  const forget = () =>
    redelivered ? scope.state.clear(scope.groupToken, sequence) : Promise.resolve();
  const nak = async (next: FailureRecord, delayMs?: number) => {
    await scope.state.write(scope.groupToken, sequence, next);
    msg.nak(delayMs);
    await scope.nc.flush();
  };

  return {
    message,
    decodeError,
    raw,
    attempt: msg.info.deliveryCount - record.releases,
    firstFailureAt:
      record.firstFailureAt === undefined ? undefined : new Date(record.firstFailureAt),
    ack: () =>
      settle(async () => {
        await forget();
        await scope.ack(msg);
      }),
    retry: (delayMs, failure) =>
      settle(() =>
        nak(
          {
            firstFailureAt: record.firstFailureAt ?? failure.at.toISOString(),
            releases: record.releases,
          },
          Math.max(0, Math.round(delayMs)),
        ),
      ),
    release: () => settle(() => nak({ ...record, releases: record.releases + 1 })),
    deadLetter: (failure) =>
      settle(async () => {
        await scope.publishDeadLetter(
          deadLetterWire(raw, failure),
          `${scope.groupToken}:${sequence}`,
        );
        await forget();
        msg.term();
        await scope.nc.flush();
      }),
  };
}

/** The original message as it travelled, plus the failure as headers. */
function deadLetterWire(raw: WireMessage, failure: FailureInfo): WireMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw.headers))
    if (!name.toLowerCase().startsWith('nats-')) headers[name] = value;
  return {
    headers: {
      ...headers,
      'causeway-reason': failure.reason,
      'causeway-error-class': failure.errorClass,
      'causeway-attempts': String(failure.attempts),
      'causeway-destination': failure.destination,
      'causeway-group': failure.group,
      [FAILURE_HEADER]: asciiJson(failure),
    },
    body: raw.body,
  };
}

/** NATS header values are ASCII without CR or LF; JSON escapes the rest and reads it back. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function readHeaders(source: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!source) return out;
  for (const [name, values] of source) {
    const last = values.at(-1);
    if (last !== undefined) out[name] = last;
  }
  return out;
}

export function toNatsHeaders(source: Readonly<Record<string, string>>): MsgHdrs {
  const out = natsHeaders();
  for (const [name, value] of Object.entries(source)) out.set(name, value);
  return out;
}

/** Reads a dead letter's failure header back, with its dates. */
export function parseFailure(value: string | undefined): FailureInfo | undefined {
  return value === undefined ? undefined : failureFromJson(value);
}
