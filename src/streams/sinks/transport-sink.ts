import type { Transport } from '../../messaging/create-transport.js';
import type { OutgoingMessage } from '../../messaging/message.js';
import type { StreamSink } from '../ports.js';
import { keyIdOf, type OutputRecord } from '../record.js';

export interface TransportSinkOptions {
  /** The topology's sink name. */
  name: string;
  transport: Pick<Transport, 'publish'>;
  destination: string;
  /** The messages' CloudEvents `type`: one for all, or per record. */
  type: string | ((record: OutputRecord) => string);
  /** The messages' CloudEvents `source` (the transport's default when omitted). */
  source?: string;
  /** The message `data`; the record's value by default. */
  data?: (record: OutputRecord) => unknown;
}

/**
 * Publishes outputs to a transport destination, at least once: the message id is the
 * output's id (derived from the input position and window), so the copies a crash makes
 * carry the same id and a downstream inbox drops them. The partition key is the record's key,
 * so a key's outputs stay in order on brokers that order by key.
 */
export class TransportSink implements StreamSink {
  readonly name: string;

  constructor(private readonly options: TransportSinkOptions) {
    this.name = options.name;
  }

  async write(records: readonly OutputRecord[]): Promise<void> {
    const { transport, destination, type, source, data } = this.options;
    const messages = records.map((record): OutgoingMessage => {
      const message: OutgoingMessage = {
        id: record.id,
        type: typeof type === 'string' ? type : type(record),
        data: data ? data(record) : record.value,
        time: new Date(record.timestamp),
      };
      if (record.key !== null && record.key !== undefined)
        message.partitionkey = keyIdOf(record.key);
      if (source !== undefined) message.source = source;
      return message;
    });
    await transport.publish(destination, messages);
  }
}
