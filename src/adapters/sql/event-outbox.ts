import { EXTENSION_ATTRIBUTES } from '../../core/envelope.js';
import type { InTransactionHook } from '../../event-store/driver.js';
import { decodeEvent, type EventRow } from '../../event-store/event-codec.js';
import { EventRegistry } from '../../event-store/event-registry.js';
import type { RecordedEvent } from '../../event-store/types.js';
import type { Message } from '../../messaging/message.js';

/**
 * The event-store option that publishes appended events through the transactional outbox:
 * each event `destination` names is written to the outbox in the append's own transaction,
 * so an event is either stored *and* queued for publishing, or neither — a crash between
 * "append" and "publish" cannot lose it. An `OutboxRelay` on the same database publishes it.
 */
export interface EventOutboxOptions {
  /** Where to publish an appended event; `undefined` keeps it unpublished. */
  destination(event: RecordedEvent): string | undefined;
}

/**
 * The message an appended event becomes: the same CloudEvent (same `id`, so consumers'
 * inboxes de-duplicate on the event id), partitioned by stream unless the event names its own
 * key (per-stream order survives the relay), with `streamid` and `streamversion` extensions.
 */
export function eventToMessage(event: RecordedEvent): Message {
  const message: Message = {
    id: event.id,
    source: event.source,
    type: event.type,
    specversion: '1.0',
    time: event.time,
    datacontenttype: event.datacontenttype,
    data: event.data,
    extensions: { streamid: event.streamId, streamversion: String(event.streamVersion) },
  };
  if (event.subject !== undefined) message.subject = event.subject;
  for (const name of EXTENSION_ATTRIBUTES) {
    const value = event[name];
    if (value !== undefined) message[name] = value;
  }
  message.partitionkey ??= event.streamId;
  return message;
}

/**
 * The hook that writes an append's events to the outbox through the append's transaction.
 * Consecutive events for one destination go in one write, in stream order.
 */
export function eventOutboxHook(
  options: EventOutboxOptions,
  registry: EventRegistry | undefined,
  write: (
    transaction: unknown,
    destination: string,
    messages: readonly Message[],
  ) => void | Promise<void>,
): InTransactionHook {
  const events = registry ?? new EventRegistry();
  return async (transaction, rows: readonly EventRow[]) => {
    let run: { destination: string; messages: Message[] } | undefined;
    for (const row of rows) {
      const event = decodeEvent(row, events);
      const destination = options.destination(event);
      if (destination === undefined) continue;
      if (run?.destination !== destination) {
        if (run) await write(transaction, run.destination, run.messages);
        run = { destination, messages: [] };
      }
      run.messages.push(eventToMessage(event));
    }
    if (run) await write(transaction, run.destination, run.messages);
  };
}

/** Both hooks in one transaction: the outbox first, then inline projections. */
export function chainHooks(
  first: InTransactionHook | undefined,
  second: InTransactionHook | undefined,
): InTransactionHook | undefined {
  if (!first) return second;
  if (!second) return first;
  return async (transaction, rows) => {
    await first(transaction, rows);
    await second(transaction, rows);
  };
}
