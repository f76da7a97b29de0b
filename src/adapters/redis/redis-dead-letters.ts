import {
  matchesQuery,
  failureFromJson,
  pageDeadLetters,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterStore,
} from '../../messaging/dead-letters.js';
import { CE_PREFIX, FAILURE_FIELD, fieldMap, toWire, wireFields } from './redis-delivery.js';
import { destinationKeys, destinationsKey, escapeName, unescapeName } from './redis-keys.js';
import { REPLAY_DEAD_LETTER, type RedisCommands } from './redis-scripts.js';

type Entries = [id: string, fields: string[]][];

const PAGE = 500;

/**
 * Dead letters kept in each destination's dead-letter stream; a letter's id is
 * `<escaped destination>:<entry id>`, and the entry id's time is when it was dead-lettered.
 * `retry` moves the original (same message id, first attempt again) into the retry stream of
 * the group that failed it and deletes the letter in one Lua step: other groups never see it
 * again, and a crash cannot lose or duplicate it. Listing reads the streams, so it suits
 * dead-letter queues people actually inspect, not millions of letters.
 */
export class RedisDeadLetterStore implements DeadLetterStore {
  constructor(
    private readonly client: RedisCommands,
    private readonly prefix: string,
  ) {}

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for (const destination of await this.#destinations(query.destination))
      letters.push(...(await this.#read(destination)).filter((l) => matchesQuery(l, query)));
    return pageDeadLetters(letters, query, compareIds);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const parsed = parseId(id);
    if (!parsed) return undefined;
    const { deadLetters } = destinationKeys(this.prefix, parsed.destination);
    const [entry] = await this.client.sendCommand<Entries>([
      'XRANGE',
      deadLetters,
      parsed.entryId,
      parsed.entryId,
    ]);
    return entry && toLetter(parsed.destination, entry);
  }

  async count(query: Omit<DeadLetterQuery, 'after' | 'limit'> = {}): Promise<number> {
    return (await this.list(query)).length;
  }

  async retry(id: string): Promise<boolean> {
    const letter = await this.get(id);
    if (!letter) return false;
    const keys = destinationKeys(this.prefix, letter.destination);
    const replayed = await REPLAY_DEAD_LETTER.run<number>(
      this.client,
      [keys.deadLetters, keys.retry(letter.group)],
      [parseId(id)!.entryId, ...wireFields(letter.message)],
    );
    return replayed === 1;
  }

  async purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    let removed = 0;
    for (const destination of await this.#destinations(query.destination)) {
      const { deadLetters } = destinationKeys(this.prefix, destination);
      const ids = (await this.#read(destination))
        .filter((l) => query.olderThan === undefined || l.deadLetteredAt < query.olderThan)
        .map((l) => parseId(l.id)!.entryId);
      for (let start = 0; start < ids.length; start += PAGE)
        removed += await this.client.sendCommand<number>([
          'XDEL',
          deadLetters,
          ...ids.slice(start, start + PAGE),
        ]);
    }
    return removed;
  }

  async #destinations(destination: string | undefined): Promise<string[]> {
    if (destination !== undefined) return [destination];
    return this.client.sendCommand<string[]>(['SMEMBERS', destinationsKey(this.prefix)]);
  }

  /** Every letter of a destination, a page of entries at a time. */
  async #read(destination: string): Promise<DeadLetter[]> {
    const { deadLetters } = destinationKeys(this.prefix, destination);
    const letters: DeadLetter[] = [];
    let from = '-';
    for (;;) {
      const page = await this.client.sendCommand<Entries>([
        'XRANGE',
        deadLetters,
        from,
        '+',
        'COUNT',
        String(PAGE),
      ]);
      for (const entry of page) {
        const letter = toLetter(destination, entry);
        if (letter) letters.push(letter);
      }
      if (page.length < PAGE) return letters;
      from = `(${page.at(-1)![0]}`;
    }
  }
}

function toLetter(destination: string, [entryId, fields]: Entries[number]): DeadLetter | undefined {
  const map = fieldMap(fields);
  const json = map.get(FAILURE_FIELD);
  if (json === undefined) return undefined;
  const failure = failureFromJson(json);
  const message = toWire(map);
  return {
    id: `${escapeName(destination)}:${entryId}`,
    messageId: message.headers[`${CE_PREFIX}id`],
    destination: failure.destination,
    group: failure.group,
    message,
    failure,
    deadLetteredAt: new Date(Number(entryId.slice(0, entryId.indexOf('-')))),
  };
}

function parseId(id: string): { destination: string; entryId: string } | undefined {
  const at = id.lastIndexOf(':');
  const entryId = id.slice(at + 1);
  if (at <= 0 || !/^\d+-\d+$/.test(entryId)) return undefined;
  try {
    return { destination: unescapeName(id.slice(0, at)), entryId };
  } catch {
    return undefined;
  }
}

function compareIds(a: string, b: string): number {
  const [x, y] = [parseId(a)!, parseId(b)!];
  if (x.destination !== y.destination) return x.destination < y.destination ? -1 : 1;
  const [xm, xs] = x.entryId.split('-').map(Number) as [number, number];
  const [ym, ys] = y.entryId.split('-').map(Number) as [number, number];
  return xm - ym || xs - ys;
}
