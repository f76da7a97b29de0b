import type WebSocket from 'ws';
import type { WireMessage } from '../../messaging/binary-codec.js';
import {
  matchesQuery,
  pageDeadLetters,
  redeliveryLimitFailure,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterStore,
} from '../../messaging/dead-letters.js';
import type { FailureInfo } from '../../messaging/message.js';
import type { PeekedMessage, PulsarAdmin } from './pulsar-admin.js';
import { openSocket } from './pulsar-socket.js';
import {
  DEAD_LETTER_SUBSCRIPTION,
  deadLetterTopic,
  isDeadLetterTopic,
  retryTopic,
} from './pulsar-topics.js';
import {
  ATTEMPT_PROPERTY,
  CE_PREFIX,
  entryOf,
  FAILURE_PROPERTY,
  originalHeaders,
  parseFailure,
} from './pulsar-wire.js';

export interface PulsarDeadLetterStoreOptions {
  admin: PulsarAdmin;
  /** `ws://host:port/ws/v2`. */
  wsBase: string;
  /** Publishes to a topic of the namespace and resolves on the broker's receipts. */
  publish(topic: string, wires: readonly WireMessage[]): Promise<void>;
  /** The consumers' `maxRedeliveries`, to describe letters Pulsar itself dead-lettered. */
  maxRedeliveries: number;
}

/** How long a removal waits for the next message of a dead-letter topic before giving up. */
const REMOVE_IDLE_MS = 3_000;

/**
 * Dead letters kept in each group's `<destination>-<group>-DLQ` topic. Pulsar cannot delete one
 * message from a topic, so a letter is live while the topic's `causeway-dlq` subscription has
 * not acknowledged it: listing peeks that subscription's backlog (admin API, read-only), and
 * removing a letter acknowledges it there. A letter's id is `<topic>@<ledger>:<entry>`.
 *
 * `retry` re-publishes the original (same message id, so an inbox downstream de-duplicates) to
 * the letter's group's retry topic, so only that group handles it again, then removes the
 * letter: a crash in between can only duplicate. Listing peeks message by message, which suits
 * dead-letter queues people inspect, not millions of letters.
 */
export class PulsarDeadLetterStore implements DeadLetterStore {
  constructor(private readonly options: PulsarDeadLetterStoreOptions) {}

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for (const topic of await this.#topics(query.destination))
      letters.push(...(await this.#read(topic)).filter((l) => matchesQuery(l, query)));
    return pageDeadLetters(letters, query, compareIds);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const parsed = parseId(id);
    if (!parsed) return undefined;
    return (await this.#read(parsed.topic)).find((l) => l.id === id);
  }

  async count(query: Omit<DeadLetterQuery, 'after' | 'limit'> = {}): Promise<number> {
    return (await this.list(query)).length;
  }

  async retry(id: string): Promise<boolean> {
    const letter = await this.get(id);
    if (!letter) return false;
    await this.options.publish(retryTopic(letter.destination, letter.group), [letter.message]);
    const { topic, entry } = parseId(id)!;
    return (await this.#remove(topic, new Set([entry]))) === 1;
  }

  async purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    let removed = 0;
    for (const topic of await this.#topics(query.destination)) {
      const doomed = (await this.#read(topic)).filter(
        (l) =>
          (query.destination === undefined || l.destination === query.destination) &&
          (query.olderThan === undefined || l.deadLetteredAt < query.olderThan),
      );
      if (doomed.length > 0)
        removed += await this.#remove(topic, new Set(doomed.map((l) => parseId(l.id)!.entry)));
    }
    return removed;
  }

  async #topics(destination: string | undefined): Promise<string[]> {
    const topics = (await this.options.admin.listTopics()).filter(isDeadLetterTopic);
    return destination === undefined
      ? topics
      : topics.filter((t) => t.startsWith(`${destination}-`));
  }

  async #read(topic: string): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for (let position = 1; ; position++) {
      const peeked = await this.options.admin.peek(topic, DEAD_LETTER_SUBSCRIPTION, position);
      if (!peeked) return letters;
      const letter = this.#toLetter(topic, peeked);
      if (letter) letters.push(letter);
    }
  }

  #toLetter(topic: string, peeked: PeekedMessage): DeadLetter | undefined {
    const failure =
      parseFailure(peeked.properties[FAILURE_PROPERTY]) ?? this.#redeliveryLimit(topic, peeked);
    if (!failure) return undefined;
    const headers = originalHeaders(peeked.properties);
    return {
      id: `${topic}@${peeked.entry}`,
      messageId: headers[`${CE_PREFIX}id`],
      destination: failure.destination,
      group: failure.group,
      message: { headers, body: peeked.body },
      failure,
      deadLetteredAt: peeked.publishTime,
    };
  }

  /**
   * A letter written by Pulsar's own dead-letter policy (`maxRedeliveries` negative acks or
   * ack timeouts): no failure record, but `REAL_TOPIC` names where it came from.
   */
  #redeliveryLimit(topic: string, peeked: PeekedMessage): FailureInfo | undefined {
    const real = peeked.properties['REAL_TOPIC']?.replace(/^.*\//, '');
    if (real === undefined) return undefined;
    const base = topic.slice(0, -'-DLQ'.length);
    // From the retry topic `<destination>-<group>-RETRY` the group is the base's tail.
    const destination = real.endsWith('-RETRY')
      ? (peeked.properties['causeway-destination'] ?? real)
      : real;
    const group = base.startsWith(`${destination}-`) ? base.slice(destination.length + 1) : base;
    if (deadLetterTopic(destination, group) !== topic) return undefined;
    const attempts =
      Number(peeked.properties[ATTEMPT_PROPERTY] ?? 0) + this.options.maxRedeliveries + 1;
    return {
      ...redeliveryLimitFailure(
        { attempt: attempts, firstFailureAt: peeked.publishTime },
        destination,
        group,
        "Pulsar's dead-letter policy: negative acks or ack timeouts",
      ),
      lastFailureAt: peeked.publishTime,
    };
  }

  /**
   * Acknowledges the given entries on the `causeway-dlq` subscription. The consumer is
   * Failover, so two removals at once take turns instead of splitting the backlog between
   * them; entries are reached in order, so this reads up to the last one it looks for.
   */
  async #remove(topic: string, entries: Set<string>): Promise<number> {
    const admin = this.options.admin;
    const ws = await openSocket(
      `${this.options.wsBase}/consumer/${admin.topicPath(topic)}/${DEAD_LETTER_SUBSCRIPTION}?subscriptionType=Failover&receiverQueueSize=100`,
      admin.url,
    );
    const acked = new Set<string>();
    await new Promise<void>((resolve) => {
      let idle = setTimeout(resolve, REMOVE_IDLE_MS);
      ws.on('message', (data) => {
        const { messageId } = JSON.parse(String(data)) as { messageId?: string };
        if (typeof messageId !== 'string') return;
        const entry = entryOf(messageId);
        if (!entries.has(entry) || acked.has(entry)) return;
        ws.send(JSON.stringify({ messageId }));
        acked.add(entry);
        clearTimeout(idle);
        if (acked.size === entries.size) return resolve();
        idle = setTimeout(resolve, REMOVE_IDLE_MS);
      });
      ws.on('close', () => resolve());
    });
    await closeSocket(ws);
    // Acks travel without a receipt: wait until the backlog no longer shows them, so a
    // list right after a retry or purge is consistent.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const left = (await this.#read(topic)).filter((l) => acked.has(parseId(l.id)!.entry));
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return acked.size;
  }
}

function closeSocket(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === ws.CLOSED) return resolve();
    ws.once('close', () => resolve());
    ws.close();
  });
}

function parseId(id: string): { topic: string; entry: string } | undefined {
  const at = id.lastIndexOf('@');
  if (at <= 0 || !/^\d+:\d+$/.test(id.slice(at + 1))) return undefined;
  return { topic: id.slice(0, at), entry: id.slice(at + 1) };
}

function compareIds(a: string, b: string): number {
  const x = parseId(a)!;
  const y = parseId(b)!;
  if (x.topic !== y.topic) return x.topic < y.topic ? -1 : 1;
  const [xl, xe] = x.entry.split(':').map(Number) as [number, number];
  const [yl, ye] = y.entry.split(':').map(Number) as [number, number];
  return xl - yl || xe - ye;
}
