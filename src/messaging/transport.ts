import type { FailureInfo, Message } from './message.js';

/**
 * One delivery of one message to one consumer group. The consumer runtime settles each
 * delivery exactly once: ack, retry later (through the broker's own delay mechanism: TTL
 * queues, `nak` with delay, retry topics, `available_at`), or dead-letter.
 */
export interface Delivery {
  /** The decoded message, or `undefined` when it could not be decoded (see `decodeError`). */
  readonly message: Message | undefined;
  readonly decodeError: Error | undefined;
  /** The message as it travelled, kept for the dead-letter record of undecodable messages. */
  readonly raw: { headers: Readonly<Record<string, string>>; body: string };
  /** 1 for the first delivery; the broker (or its headers) counts redeliveries. */
  readonly attempt: number;
  /** When this message first failed, carried across redeliveries; `undefined` on a first try. */
  readonly firstFailureAt: Date | undefined;
  ack(): Promise<void>;
  /** Hands the message back to the broker to be delivered again after `delayMs`. */
  retry(delayMs: number, failure: { at: Date; error: string }): Promise<void>;
  deadLetter(failure: FailureInfo): Promise<void>;
  /** Gives an unstarted delivery back (shutdown): delivered again later, not counted as an attempt. */
  release(): Promise<void>;
}

/** What a delivery's second settlement rejects with (ack after retry, ack twice): a runtime bug. */
export function alreadySettled(message: Message | undefined): Error {
  return new Error(`Delivery of ${message?.id ?? 'an undecodable message'} was already settled`);
}

export interface ConsumeOptions {
  /** How many unsettled deliveries the broker may hand this consumer at once. */
  prefetch: number;
}

export interface ConsumerHandle {
  /** Stops fetching new deliveries; those already handed out are still settled by the runtime. */
  stop(): Promise<void>;
}

/**
 * The port a broker implements. It only moves messages (in its protocol's CloudEvents binary
 * binding) and settles deliveries; ordering per key, concurrency, retry decisions and
 * dead-lettering are the kernel's consumer runtime, identical on every broker.
 */
export interface TransportDriver {
  readonly kind: string;
  /** Resolves only once the broker has confirmed every message (durably stored). */
  publish(destination: string, messages: readonly Message[]): Promise<void>;
  /** Starts delivering `destination`'s messages to `group`; the group's consumers share them. */
  consume(
    destination: string,
    group: string,
    options: ConsumeOptions,
    onDelivery: (delivery: Delivery) => void,
  ): Promise<ConsumerHandle>;
  close(): Promise<void>;
}
