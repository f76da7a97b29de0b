import type { JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { tryDecodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import { failureFromJson } from '../../messaging/dead-letters.js';
import type { FailureInfo, Message } from '../../messaging/message.js';
import { alreadySettled, type Delivery } from '../../messaging/transport.js';
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
      .then((record) => new NatsDelivery(msg, scope, record, true));
  return new NatsDelivery(msg, scope, FIRST_DELIVERY, false);
}

const FIRST_DELIVERY: FailureRecord = { firstFailureAt: undefined, releases: 0 };

/** A class rather than an object of closures: one is made per message, on the hot path. */
class NatsDelivery implements Delivery {
  readonly message: Message | undefined;
  readonly decodeError: Error | undefined;
  readonly raw: { headers: Record<string, string>; body: string };
  readonly attempt: number;
  readonly firstFailureAt: Date | undefined;
  #done = false;

  constructor(
    private readonly msg: JsMsg,
    private readonly scope: DeliveryScope,
    private readonly record: FailureRecord,
    /** Redeliveries may have a record; settling for good removes it (it would expire anyway). */
    private readonly redelivered: boolean,
  ) {
    this.raw = { headers: readHeaders(msg.headers), body: decoder.decode(msg.data) };
    ({ message: this.message, decodeError: this.decodeError } = tryDecodeBinary(
      this.raw,
      CE_PREFIX,
    ));
    this.attempt = msg.info.deliveryCount - record.releases;
    this.firstFailureAt =
      record.firstFailureAt === undefined ? undefined : new Date(record.firstFailureAt);
  }

  ack(): Promise<void> {
    return this.#settle(async () => {
      if (this.redelivered) await this.#forget();
      await this.scope.ack(this.msg);
    });
  }

  retry(delayMs: number, failure: { at: Date; error: string }): Promise<void> {
    const { firstFailureAt, releases } = this.record;
    return this.#settle(() =>
      this.#nak(
        { firstFailureAt: firstFailureAt ?? failure.at.toISOString(), releases },
        Math.max(0, Math.round(delayMs)),
      ),
    );
  }

  release(): Promise<void> {
    return this.#settle(() => this.#nak({ ...this.record, releases: this.record.releases + 1 }));
  }

  deadLetter(failure: FailureInfo): Promise<void> {
    return this.#settle(async () => {
      await this.scope.publishDeadLetter(
        deadLetterWire(this.raw, failure),
        `${this.scope.groupToken}:${this.msg.info.streamSequence}`,
      );
      await this.#forget();
      this.msg.term();
      await this.scope.nc.flush();
    });
  }

  async #settle(work: () => Promise<void>): Promise<void> {
    if (this.#done) throw alreadySettled(this.message);
    this.#done = true;
    try {
      await work();
    } finally {
      this.scope.settled(this.msg);
    }
  }

  #forget(): Promise<void> {
    return this.redelivered
      ? this.scope.state.clear(this.scope.groupToken, this.msg.info.streamSequence)
      : Promise.resolve();
  }

  async #nak(next: FailureRecord, delayMs?: number): Promise<void> {
    await this.scope.state.write(this.scope.groupToken, this.msg.info.streamSequence, next);
    this.msg.nak(delayMs);
    await this.scope.nc.flush();
  }
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
  // append, not set: a record's names are already distinct, and set first looks each one up
  // to delete it (a scan of every name so far), which doubled the cost of every publish's headers.
  for (const [name, value] of Object.entries(source)) out.append(name, value);
  return out;
}

/** Reads a dead letter's failure header back, with its dates. */
export function parseFailure(value: string | undefined): FailureInfo | undefined {
  return value === undefined ? undefined : failureFromJson(value);
}
