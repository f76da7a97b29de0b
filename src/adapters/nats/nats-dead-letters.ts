import type { JetStreamClient, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import {
  matchesQuery,
  pageDeadLetters,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterStore,
} from '../../messaging/dead-letters.js';
import {
  CE_PREFIX,
  FAILURE_HEADER,
  parseFailure,
  readHeaders,
  toNatsHeaders,
} from './nats-delivery.js';
import { deadLetterDestination, destinationNames, isApiError } from './nats-topology.js';

/** Marks a message re-sent from the dead letters: only this group handles it again. */
export const RETRY_GROUP_HEADER = 'causeway-retry-group';

const STREAM_NOT_FOUND = 10059;

/**
 * Dead letters kept in each destination's `-dlq` stream; a letter's id is `<stream>:<sequence>`.
 * `retry` re-publishes the original (same message id, so an inbox downstream de-duplicates) to
 * its destination marked for its group, then deletes the letter: a crash in between can only
 * duplicate. Listing reads the streams, so it suits dead-letter queues people actually inspect.
 */
export class NatsDeadLetterStore implements DeadLetterStore {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly prefix: string,
  ) {}

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for (const stream of await this.#streams(query.destination))
      letters.push(...(await this.#read(stream)).filter((l) => matchesQuery(l, query)));
    return pageDeadLetters(letters, query, compareIds);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const parsed = parseId(id);
    if (!parsed) return undefined;
    try {
      const stored = await this.jsm.streams.getMessage(parsed.stream, { seq: parsed.sequence });
      return stored ? toLetter(parsed.stream, stored) : undefined;
    } catch (error) {
      if (isApiError(error, STREAM_NOT_FOUND)) return undefined;
      throw error;
    }
  }

  async count(query: Omit<DeadLetterQuery, 'after' | 'limit'> = {}): Promise<number> {
    return (await this.list(query)).length;
  }

  async retry(id: string): Promise<boolean> {
    const letter = await this.get(id);
    if (!letter) return false;
    const { subject } = destinationNames(this.prefix, letter.destination);
    await this.js.publish(subject, letter.message.body, {
      headers: toNatsHeaders({ ...letter.message.headers, [RETRY_GROUP_HEADER]: letter.group }),
      // Retrying the same letter twice within the duplicate window publishes it once.
      msgID: `dlq:${id}`,
    });
    const { stream, sequence } = parseId(id)!;
    return this.jsm.streams.deleteMessage(stream, sequence, false);
  }

  async purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    let removed = 0;
    for (const stream of await this.#streams(query.destination)) {
      for (const letter of await this.#read(stream)) {
        if (query.olderThan !== undefined && letter.deadLetteredAt >= query.olderThan) continue;
        if (await this.jsm.streams.deleteMessage(stream, parseId(letter.id)!.sequence, false))
          removed++;
      }
    }
    return removed;
  }

  async #streams(destination: string | undefined): Promise<string[]> {
    if (destination !== undefined)
      return [destinationNames(this.prefix, deadLetterDestination(destination)).stream];
    const names: string[] = [];
    for await (const name of this.jsm.streams.names())
      if (name.startsWith(`${this.prefix}_`) && name.endsWith('-dlq')) names.push(name);
    return names;
  }

  async #read(stream: string): Promise<DeadLetter[]> {
    let first: number;
    let last: number;
    try {
      ({ first_seq: first, last_seq: last } = (await this.jsm.streams.info(stream)).state);
    } catch (error) {
      if (isApiError(error, STREAM_NOT_FOUND)) return [];
      throw error;
    }
    const letters: DeadLetter[] = [];
    for (let seq = first; seq <= last && last > 0; seq++) {
      const stored = await this.jsm.streams.getMessage(stream, { seq });
      const letter = stored && toLetter(stream, stored);
      if (letter) letters.push(letter);
    }
    return letters;
  }
}

function toLetter(stream: string, stored: StoredMsg): DeadLetter | undefined {
  const all = readHeaders(stored.header);
  const failure = parseFailure(all[FAILURE_HEADER]);
  if (!failure) return undefined;
  // The message as it travelled: without the failure headers the dead-lettering added.
  const headers = Object.fromEntries(
    Object.entries(all).filter(([name]) => !name.startsWith('causeway-')),
  );
  return {
    id: `${stream}:${stored.seq}`,
    messageId: headers[`${CE_PREFIX}id`],
    destination: failure.destination,
    group: failure.group,
    message: { headers, body: stored.string() },
    failure,
    deadLetteredAt: stored.time,
  };
}

function parseId(id: string): { stream: string; sequence: number } | undefined {
  const at = id.lastIndexOf(':');
  const sequence = Number(id.slice(at + 1));
  if (at <= 0 || !Number.isSafeInteger(sequence) || sequence < 1) return undefined;
  return { stream: id.slice(0, at), sequence };
}

function compareIds(a: string, b: string): number {
  const x = parseId(a)!;
  const y = parseId(b)!;
  return x.stream < y.stream ? -1 : x.stream > y.stream ? 1 : x.sequence - y.sequence;
}
