import { ValidationError } from '../core/errors.js';
import { toMessage } from './binary-codec.js';
import { Consumer, type ConsumerOptions, type MessageHandler } from './consumer.js';
import type { OutgoingMessage } from './message.js';
import type { TransportDriver } from './transport.js';

/** What applications use: publish with broker confirmation, subscribe as a named group. */
export interface Transport {
  /** Resolves once the broker confirmed every message; returns their ids. */
  publish(destination: string, messages: readonly OutgoingMessage[]): Promise<string[]>;
  subscribe(
    destination: string,
    group: string,
    handler: MessageHandler,
    options?: ConsumerOptions,
  ): Promise<Consumer>;
  close(): Promise<void>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function createTransport(driver: TransportDriver): Transport {
  const consumers = new Set<Consumer>();
  return {
    async publish(destination, messages) {
      assertName(destination, 'destination');
      const prepared = messages.map((m) => toMessage(m));
      if (prepared.length > 0) await driver.publish(destination, prepared);
      return prepared.map((m) => m.id);
    },
    async subscribe(destination, group, handler, options) {
      assertName(destination, 'destination');
      assertName(group, 'group');
      const consumer = await Consumer.start(driver, destination, group, handler, options);
      consumers.add(consumer);
      return consumer;
    },
    async close() {
      await Promise.all([...consumers].map((c) => c.stop()));
      await driver.close();
    },
  };
}

function assertName(value: string, field: string): void {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new ValidationError('Invalid name', [
      {
        path: [field],
        message: 'must be 1-200 letters, digits, ".", "_" or "-", starting with a letter or digit',
      },
    ]);
  }
}
