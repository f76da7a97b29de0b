import { decodeBinary, type WireMessage } from '../../messaging/binary-codec.js';
import type { FailureInfo, Message } from '../../messaging/message.js';
import type { Delivery } from '../../messaging/transport.js';
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
  /** Acks entries of this consumer, gathered per event-loop turn (see `RedisAckBatch`). */
  ack(stream: string, id: string, remove: boolean): Promise<void>;
  group: string;
  consumer: string;
  delayedKey: string;
  deadLetterKey: string;
  /** Idle time given to released entries, so the next consumer claims them at once. */
  releaseIdleMs: number;
  /** A retry is due in `ms`: lets the local poller move it on time. */
  retryScheduled(ms: number): void;
  /** Called once the delivery is settled, whatever the outcome. */
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
 * Wraps one entry. The attempt is the entry's base attempt (1, or the one a retry carried)
 * plus its redeliveries as the pending entries list counts them; every settlement is one Lua
 * script, so the entry is acked in the same step that schedules, dead-letters or deletes it.
 */
export function toDelivery(entry: StreamEntry, scope: DeliveryScope): Delivery {
  const fields = fieldMap(entry.fields);
  const raw = toWire(fields);
  let message: Message | undefined;
  let decodeError: Error | undefined;
  try {
    message = decodeBinary(raw, CE_PREFIX);
  } catch (error) {
    decodeError = error instanceof Error ? error : new Error(String(error));
  }
  const base = Number(fields.get(ATTEMPT_FIELD) ?? '1');
  const attempt = (Number.isSafeInteger(base) && base > 0 ? base : 1) + entry.deliveries - 1;
  const firstFailure = fields.get(FIRST_FAILURE_FIELD);
  const remove = entry.fromRetryStream ? '1' : '0';
  const ack = () => scope.ack(entry.key, entry.id, entry.fromRetryStream);

  let done = false;
  const settle = async (work: () => Promise<unknown>) => {
    if (done)
      throw new Error(`Delivery of ${message?.id ?? 'an undecodable message'} was already settled`);
    done = true;
    try {
      await work();
    } finally {
      scope.settled(entry);
    }
  };

  return {
    message,
    decodeError,
    raw,
    attempt,
    firstFailureAt: firstFailure === undefined ? undefined : new Date(firstFailure),
    ack: () => settle(ack),
    retry: (delayMs, failure) =>
      settle(async () => {
        const member = JSON.stringify(
          wireFields(raw, {
            [ATTEMPT_FIELD]: String(attempt + 1),
            [FIRST_FAILURE_FIELD]: firstFailure ?? failure.at.toISOString(),
            // Keeps members unique: the same message may wait for two groups' retries.
            'causeway-retry-of': `${entry.key}/${entry.id}/${attempt}`,
          }),
        );
        const delay = Math.max(0, Math.round(delayMs));
        await SCHEDULE_RETRY.run(
          scope.client,
          [scope.delayedKey, entry.key],
          [scope.group, entry.id, String(delay), member, remove],
        );
        scope.retryScheduled(delay);
      }),
    release: () =>
      settle(async () => {
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
      }),
    deadLetter: (failure) =>
      settle(() =>
        DEAD_LETTER.run(
          scope.client,
          [scope.deadLetterKey, entry.key],
          [scope.group, entry.id, remove, ...deadLetterFields(raw, failure)],
        ),
      ),
  };
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
