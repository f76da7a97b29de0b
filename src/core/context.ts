import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The ambient context of the message being handled: who asked, which flow it belongs to and
 * what caused it. The command bus sets it around a handler; the event store stamps it onto
 * every event appended inside, so metadata reaches the events without being threaded by hand.
 */
export interface MessageContext {
  /** The id of the command or event being handled: the causation of whatever it produces. */
  messageId?: string;
  correlationId?: string;
  userId?: string;
  traceparent?: string;
  /** Anything else to copy into the `metadata` of produced events (tenant, ip…). */
  metadata?: Record<string, unknown>;
}

const storage = new AsyncLocalStorage<MessageContext>();

export function runWithContext<T>(context: MessageContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentContext(): MessageContext | undefined {
  return storage.getStore();
}
