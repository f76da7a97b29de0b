import { tryDecodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import { failureTime, type FailureInfo, type Message } from '../../messaging/message.js';
import { alreadySettled, type Delivery } from '../../messaging/transport.js';
import { DEAD_LETTER, RELEASE, SCHEDULE_RETRY, type RedisCommands } from './redis-scripts.js';

/** CloudEvents binary mode on a stream entry: attributes as `ce-` fields, like HTTP and NATS. */
export const CE_PREFIX = 'ce-';
/** The entry field holding the message body (the event's `data`). */
export const DATA_FIELD = 'data';
/** The whole `FailureInfo` as JSON on a dead letter. */
export const FAILURE_FIELD = 'causeway-failure';
/** On a retried entry: its attempt number (the pending entries list counts from 1 again). */
export const ATTEMPT_FIELD = 'causeway-attempt';
/** On a retried entry: when the message first failed. */
export const FIRST_FAILURE_FIELD = 'causeway-first-failure';
/** Driver fields start with this; they are not part of the message as it travelled. */
const DRIVER_FIELD = 'causeway-';

/** One stream entry handed to this consumer. */
export interface StreamEntry {
  /** The stream it came from: the destination's or the group's retry stream. */
  key: string;
  /** Whether `key` is the group's own retry stream (entries are deleted once settled). */
  fromRetryStream: boolean;
  id: string;
  /** Flat field/value list as Redis returns it. */
  fields: readonly string[];
  /** Deliveries counted by the pending entries list (1 on a first read). */
  deliveries: number;
}

export interface DeliveryScope {
  client: RedisCommands;
  /**
   * Acks an entry of this consumer, gathered per event-loop turn (see `RedisAckBatch`), and
   * calls `settled` for it once answered, before the returned promise settles.
   */
  ack(entry: StreamEntry): Promise<void>;
  group: string;
  consumer: string;
  delayedKey: string;
  deadLetterKey: string;
  /** Idle time given to released entries, so the next consumer claims them at once. */
  releaseIdleMs: number;
  /** A retry is due in `ms`: lets the local poller move it on time. */
  retryScheduled(ms: number): void;
  /** Called once the delivery is settled, whatever the outcome (acks: see `ack`). */
  settled(entry: StreamEntry): void;
  /** Called once the delivery was given back (it is pending again, claimable at once). */
  released(): void;
}

export function fieldMap(fields: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  return map;
}

/** The message as it travelled: every field but the body and the driver's own. */
export function toWire(fields: ReadonlyMap<string, string>): WireMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of fields)
    if (name !== DATA_FIELD && !name.startsWith(DRIVER_FIELD)) headers[name] = value;
  return { headers, body: fields.get(DATA_FIELD) ?? '' };
}

/** Stream fields of a message: its headers, then the body. */
export function wireFields(wire: WireMessage, extra: Record<string, string> = {}): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries({ ...wire.headers, ...extra })) out.push(name, value);
  out.push(DATA_FIELD, wire.body);
  return out;
}

/**
 * One entry handed to the runtime. The attempt is the entry's base attempt (1, or the one a
 * retry carried) plus its redeliveries as the pending entries list counts them; every
 * settlement is one Lua script (or a batched ack), so the entry is acked in the same step that
 * schedules, dead-letters or deletes it.
 *
 * A class rather than an object of closures: a consumer builds one per message, and the
 * methods live once on the prototype instead of being allocated (six closures) per entry.
 */
export class RedisDelivery implements Delivery {
  readonly message: Message | undefined;
  readonly decodeError: Error | undefined;
  readonly raw: WireMessage;
  readonly attempt: number;
  readonly firstFailureAt: Date | undefined;
  readonly #entry: StreamEntry;
  readonly #scope: DeliveryScope;
  /** `FIRST_FAILURE_FIELD` as it travelled, carried unchanged into the next retry. */
  readonly #firstFailure: string | undefined;
  #done = false;

  constructor(entry: StreamEntry, scope: DeliveryScope) {
    this.#entry = entry;
    this.#scope = scope;
    // One pass over the flat field list: the message's headers, its body, the driver's fields.
    const { fields } = entry;
    const headers: Record<string, string> = {};
    let body = '';
    let base: string | undefined;
    let firstFailure: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      if (name === DATA_FIELD) body = value;
      else if (!name.startsWith(DRIVER_FIELD)) headers[name] = value;
      else if (name === ATTEMPT_FIELD) base = value;
      else if (name === FIRST_FAILURE_FIELD) firstFailure = value;
    }
    this.raw = { headers, body };
    ({ message: this.message, decodeError: this.decodeError } = tryDecodeBinary(
      this.raw,
      CE_PREFIX,
    ));
    const attempt = Number(base ?? '1');
    this.attempt =
      (Number.isSafeInteger(attempt) && attempt > 0 ? attempt : 1) + entry.deliveries - 1;
    this.#firstFailure = firstFailure;
    this.firstFailureAt = failureTime(firstFailure);
  }

  /**
   * Batched with the consumer's other acks; the batch reports the entry settled (`settled`)
   * once Redis answered, so no promise of its own is made here (the runtime acks every
   * handled message: this is the hot path).
   */
  ack(): Promise<void> {
    if (this.#done) return Promise.reject(this.#settledTwice());
    this.#done = true;
    return this.#scope.ack(this.#entry);
  }

  retry(delayMs: number, failure: { at: Date; error: string }): Promise<void> {
    return this.#settle(async () => {
      const entry = this.#entry;
      const scope = this.#scope;
      const member = JSON.stringify(
        wireFields(this.raw, {
          [ATTEMPT_FIELD]: String(this.attempt + 1),
          [FIRST_FAILURE_FIELD]: this.#firstFailure ?? failure.at.toISOString(),
          // Keeps members unique: the same message may wait for two groups' retries.
          'causeway-retry-of': `${entry.key}/${entry.id}/${this.attempt}`,
        }),
      );
      const delay = Math.max(0, Math.round(delayMs));
      await SCHEDULE_RETRY.run(
        scope.client,
        [scope.delayedKey, entry.key],
        [scope.group, entry.id, String(delay), member, this.#remove()],
      );
      scope.retryScheduled(delay);
    });
  }

  release(): Promise<void> {
    return this.#settle(async () => {
      const entry = this.#entry;
      const scope = this.#scope;
      await RELEASE.run(
        scope.client,
        [entry.key],
        [
          scope.group,
          scope.consumer,
          entry.id,
          String(scope.releaseIdleMs),
          String(Math.max(0, entry.deliveries - 1)),
        ],
      );
      scope.released();
    });
  }

  deadLetter(failure: FailureInfo): Promise<void> {
    return this.#settle(() =>
      DEAD_LETTER.run(
        this.#scope.client,
        [this.#scope.deadLetterKey, this.#entry.key],
        [this.#scope.group, this.#entry.id, this.#remove(), ...deadLetterFields(this.raw, failure)],
      ),
    );
  }

  #settledTwice(): Error {
    return alreadySettled(this.message);
  }

  /** Whether a settling script deletes the entry too ('1' on the group's own retry stream). */
  #remove(): '1' | '0' {
    return this.#entry.fromRetryStream ? '1' : '0';
  }

  async #settle(work: () => Promise<unknown>): Promise<void> {
    if (this.#done) throw this.#settledTwice();
    this.#done = true;
    try {
      await work();
    } finally {
      this.#scope.settled(this.#entry);
    }
  }
}

/** The original message plus the failure, readable field by field and whole as JSON. */
function deadLetterFields(raw: WireMessage, failure: FailureInfo): string[] {
  return wireFields(raw, {
    'causeway-reason': failure.reason,
    'causeway-error-class': failure.errorClass,
    'causeway-attempts': String(failure.attempts),
    'causeway-destination': failure.destination,
    'causeway-group': failure.group,
    [FAILURE_FIELD]: JSON.stringify(failure),
  });
}
