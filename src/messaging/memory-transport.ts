import { tryDecodeBinary, encodeBinary, type WireMessage } from './binary-codec.js';
import { newId } from '../core/ids.js';
import {
  matchesQuery,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterStore,
} from './dead-letters.js';
import type { Message } from './message.js';
import {
  alreadySettled,
  type ConsumeOptions,
  type ConsumerHandle,
  type Delivery,
  type TransportDriver,
} from './transport.js';

const PREFIX = 'ce-';

interface Stored extends WireMessage {
  attempt: number;
  firstFailureAt: Date | undefined;
  key: string | undefined;
}

interface GroupConsumer {
  prefetch: number;
  inflight: number;
  onDelivery: (delivery: Delivery) => void;
}

interface Group {
  ready: Stored[];
  consumers: GroupConsumer[];
  next: number;
}

export type MemoryDeadLetter = DeadLetter;

/**
 * The reference transport: an in-process broker with the semantics the real ones give.
 * Each group of a destination gets every message (from the start of the destination's log);
 * competing consumers of a group share them, a key always going to the same consumer; retries
 * come back after their delay through a timer (the "broker mechanism"); dead letters are kept
 * for inspection. Messages travel encoded (CloudEvents binary mode) so decoding is exercised.
 */
export class MemoryTransportDriver implements TransportDriver {
  readonly kind = 'memory';
  readonly deadLetters: MemoryDeadLetter[] = [];
  /** The operator's access to this broker's dead letters (list, retry, purge). */
  readonly deadLetterStore: DeadLetterStore = new MemoryDeadLetterStore(
    this.deadLetters,
    (letter) => this.#redeliver(letter),
  );
  readonly #destinations = new Map<string, { log: WireMessage[]; groups: Map<string, Group> }>();
  readonly #timers = new Set<NodeJS.Timeout>();

  async publish(destination: string, messages: readonly Message[]): Promise<void> {
    const wires = messages.map((m) => encodeBinary(m, PREFIX));
    this.publishRaw(destination, wires);
  }

  /** Publishes already-encoded messages, e.g. to test what consumers do with poison. */
  publishRaw(destination: string, wires: readonly WireMessage[]): void {
    const target = this.#destination(destination);
    for (const wire of wires) {
      target.log.push(wire);
      for (const group of target.groups.values()) group.ready.push(fresh(wire));
    }
    for (const group of target.groups.values()) this.#dispatch(destination, group);
  }

  async consume(
    destination: string,
    groupName: string,
    options: ConsumeOptions,
    onDelivery: (d: Delivery) => void,
  ): Promise<ConsumerHandle> {
    const target = this.#destination(destination);
    let group = target.groups.get(groupName);
    if (!group) {
      group = { ready: target.log.map(fresh), consumers: [], next: 0 };
      target.groups.set(groupName, group);
    }
    const consumer: GroupConsumer = { prefetch: options.prefetch, inflight: 0, onDelivery };
    group.consumers.push(consumer);
    const joined = group;
    queueMicrotask(() => this.#dispatch(destination, joined));
    return {
      stop: async () => {
        joined.consumers = joined.consumers.filter((c) => c !== consumer);
      },
    };
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  /** A retried dead letter starts over as a first delivery to its group only. */
  #redeliver(letter: DeadLetter): void {
    const target = this.#destination(letter.destination);
    let group = target.groups.get(letter.group);
    if (!group) {
      group = { ready: [], consumers: [], next: 0 };
      target.groups.set(letter.group, group);
    }
    group.ready.push(fresh(letter.message));
    this.#dispatch(letter.destination, group);
  }

  #destination(name: string) {
    let target = this.#destinations.get(name);
    if (!target) {
      target = { log: [], groups: new Map() };
      this.#destinations.set(name, target);
    }
    return target;
  }

  /** Hands ready messages to consumers with room, keeping each key on one consumer, in order. */
  #dispatch(destination: string, group: Group): void {
    if (group.consumers.length === 0) return;
    const blockedKeys = new Set<string>();
    for (let i = 0; i < group.ready.length;) {
      const stored = group.ready[i]!;
      const consumer = this.#pick(group, stored, blockedKeys);
      if (!consumer) {
        i++;
        continue;
      }
      group.ready.splice(i, 1);
      consumer.inflight++;
      consumer.onDelivery(this.#delivery(destination, group, consumer, stored));
    }
  }

  #pick(group: Group, stored: Stored, blockedKeys: Set<string>): GroupConsumer | undefined {
    const { consumers } = group;
    if (stored.key !== undefined) {
      // A key whose consumer is full blocks the key's later messages too, so order holds.
      if (blockedKeys.has(stored.key)) return undefined;
      const consumer = consumers[hash(stored.key) % consumers.length]!;
      if (consumer.inflight < consumer.prefetch) return consumer;
      blockedKeys.add(stored.key);
      return undefined;
    }
    for (let n = 0; n < consumers.length; n++) {
      const consumer = consumers[(group.next + n) % consumers.length]!;
      if (consumer.inflight < consumer.prefetch) {
        group.next = (group.next + n + 1) % consumers.length;
        return consumer;
      }
    }
    return undefined;
  }

  #delivery(destination: string, group: Group, consumer: GroupConsumer, stored: Stored): Delivery {
    const { message, decodeError } = tryDecodeBinary(stored, PREFIX);
    let settled = false;
    const settle = (then: () => void) => {
      if (settled) throw alreadySettled(message);
      settled = true;
      consumer.inflight--;
      then();
      this.#dispatch(destination, group);
    };
    return {
      message,
      decodeError,
      raw: { headers: stored.headers, body: stored.body },
      attempt: stored.attempt,
      firstFailureAt: stored.firstFailureAt,
      ack: async () => settle(() => undefined),
      release: async () => settle(() => group.ready.unshift(stored)),
      retry: async (delayMs, failure) =>
        settle(() => {
          const again: Stored = {
            ...stored,
            attempt: stored.attempt + 1,
            firstFailureAt: stored.firstFailureAt ?? failure.at,
          };
          const timer = setTimeout(() => {
            this.#timers.delete(timer);
            group.ready.push(again);
            this.#dispatch(destination, group);
          }, delayMs);
          this.#timers.add(timer);
        }),
      deadLetter: async (failure) =>
        settle(() =>
          this.deadLetters.push({
            id: newId(),
            messageId: stored.headers[`${PREFIX}id`],
            deadLetteredAt: new Date(),
            destination,
            group: failure.group,
            message: { headers: stored.headers, body: stored.body },
            failure,
          }),
        ),
    };
  }
}

function fresh(wire: WireMessage): Stored {
  return {
    ...wire,
    attempt: 1,
    firstFailureAt: undefined,
    key: wire.headers[`${PREFIX}partitionkey`],
  };
}

function hash(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h >>> 0;
}

class MemoryDeadLetterStore implements DeadLetterStore {
  constructor(
    private readonly letters: DeadLetter[],
    private readonly redeliver: (letter: DeadLetter) => void,
  ) {}

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const start =
      query.after === undefined ? 0 : this.letters.findIndex((l) => l.id === query.after) + 1;
    const matching = this.letters.slice(start).filter((l) => matchesQuery(l, query));
    return structuredClone(query.limit === undefined ? matching : matching.slice(0, query.limit));
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const letter = this.letters.find((l) => l.id === id);
    return letter ? structuredClone(letter) : undefined;
  }

  async count(query: Omit<DeadLetterQuery, 'after' | 'limit'> = {}): Promise<number> {
    return this.letters.filter((l) => matchesQuery(l, query)).length;
  }

  async retry(id: string): Promise<boolean> {
    const index = this.letters.findIndex((l) => l.id === id);
    if (index < 0) return false;
    // One synchronous step: removed and re-queued together, so never lost nor doubled.
    const [letter] = this.letters.splice(index, 1);
    this.redeliver(letter!);
    return true;
  }

  async purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    let removed = 0;
    for (let i = this.letters.length - 1; i >= 0; i--) {
      const letter = this.letters[i]!;
      if (query.destination !== undefined && letter.destination !== query.destination) continue;
      if (query.olderThan !== undefined && letter.deadLetteredAt >= query.olderThan) continue;
      this.letters.splice(i, 1);
      removed++;
    }
    return removed;
  }
}
