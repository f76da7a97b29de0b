import type { Channel, ChannelModel, ConfirmChannel, GetMessage } from 'amqplib';
import {
  matchesQuery,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterStore,
} from '../../messaging/dead-letters.js';
import type { FailureInfo } from '../../messaging/message.js';
import { DEAD_LETTER_QUEUE_ARGUMENTS, type RabbitMqNames } from './rabbitmq-topology.js';
import {
  DEAD_LETTER_ID_HEADER,
  DEAD_LETTERED_AT_HEADER,
  FAILURE_HEADER,
  headerDate,
  headerNumber,
  parseDeadLetterRoute,
  republishOptions,
  toWire,
} from './rabbitmq-wire.js';

export type RabbitMqDeadLetter = DeadLetter;

/**
 * The dead letters of every destination and group live in one durable queue per prefix,
 * routed there with `<destination, group>` as the routing key, so an operator (or the CLI, from
 * a fresh process) finds them all without knowing the groups. Reading never consumes: letters
 * are fetched unacknowledged on a channel of their own and closing it hands them back.
 * Retry publishes a copy to the group's queue with a confirm and only then removes the letter,
 * keeping the message id: at worst a duplicate, never a loss.
 */
export class RabbitMqDeadLetterStore implements DeadLetterStore {
  constructor(
    private readonly connection: () => ChannelModel,
    private readonly publisher: () => Promise<ConfirmChannel>,
    private readonly names: RabbitMqNames,
    private readonly deliveryLimit: number,
    /** Turns broker failures into typed errors (`StoreUnavailableError`, `StoreClosedError`). */
    private readonly guard: <T>(work: () => Promise<T>) => Promise<T>,
  ) {}

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const letters = await this.#scan(async () => undefined);
    const start =
      query.after === undefined ? 0 : letters.findIndex((l) => l.id === query.after) + 1;
    const matching = letters.slice(start).filter((l) => matchesQuery(l, query));
    return query.limit === undefined ? matching : matching.slice(0, query.limit);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    return (await this.#scan(async () => undefined)).find((l) => l.id === id);
  }

  async count(query: Omit<DeadLetterQuery, 'after' | 'limit'> = {}): Promise<number> {
    return (await this.#scan(async () => undefined)).filter((l) => matchesQuery(l, query)).length;
  }

  async retry(id: string): Promise<boolean> {
    let found = false;
    await this.#scan(async (letters, raw, channel) => {
      const index = letters.findIndex((l) => l.id === id);
      if (index < 0) return;
      const letter = letters[index]!;
      const original = raw[index]!;
      const queue = this.names.queue(letter.destination, letter.group);
      const publisher = await this.publisher();
      // A message sent to a missing queue is dropped yet confirmed: make sure the group exists.
      await publisher.checkQueue(queue);
      await new Promise<void>((resolve, reject) => {
        publisher.sendToQueue(
          queue,
          original.content,
          republishOptions(original.properties, {}, /* fresh first attempt */ true),
          (error) =>
            error ? reject(error instanceof Error ? error : new Error('nack')) : resolve(),
        );
      });
      channel.ack(original);
      found = true;
    });
    return found;
  }

  async purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    let removed = 0;
    await this.#scan(async (letters, raw, channel) => {
      letters.forEach((letter, i) => {
        if (query.destination !== undefined && letter.destination !== query.destination) return;
        if (query.olderThan !== undefined && letter.deadLetteredAt >= query.olderThan) return;
        channel.ack(raw[i]!);
        removed++;
      });
    });
    return removed;
  }

  /** Fetches every letter unacknowledged, lets `act` ack some, then hands the rest back. */
  #scan(
    act: (letters: DeadLetter[], raw: GetMessage[], channel: Channel) => Promise<void>,
  ): Promise<DeadLetter[]> {
    return this.guard(() => this.#scanOnce(act));
  }

  async #scanOnce(
    act: (letters: DeadLetter[], raw: GetMessage[], channel: Channel) => Promise<void>,
  ): Promise<DeadLetter[]> {
    const channel = await this.connection().createChannel();
    channel.on('error', () => undefined); // reported by the failing call itself
    try {
      const queue = this.names.deadLetterQueue();
      await channel.assertQueue(queue, { durable: true, arguments: DEAD_LETTER_QUEUE_ARGUMENTS });
      const raw: GetMessage[] = [];
      for (;;) {
        const got = await channel.get(queue, { noAck: false });
        if (got === false) break;
        raw.push(got);
      }
      const letters = raw.map((got) => this.#toDeadLetter(got));
      const order = letters.map((_, i) => i);
      order.sort(
        (a, b) => letters[a]!.deadLetteredAt.getTime() - letters[b]!.deadLetteredAt.getTime(),
      );
      const sorted = order.map((i) => letters[i]!);
      await act(
        sorted,
        order.map((i) => raw[i]!),
        channel,
      );
      return sorted;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  #toDeadLetter(got: GetMessage): DeadLetter {
    const headers = (got.properties.headers ?? {}) as Record<string, unknown>;
    const route = parseDeadLetterRoute(got.fields.routingKey);
    const recorded = headers[FAILURE_HEADER];
    const text = Buffer.isBuffer(recorded) ? recorded.toString('utf8') : recorded;
    const failure =
      typeof text === 'string' ? parseFailure(text) : this.#brokerFailure(headers, route);
    const messageId =
      typeof got.properties.messageId === 'string' ? got.properties.messageId : undefined;
    const idHeader = headers[DEAD_LETTER_ID_HEADER];
    return {
      id:
        typeof idHeader === 'string'
          ? idHeader
          : `${messageId ?? 'unknown'}@${route.destination}/${route.group}`,
      messageId,
      destination: route.destination,
      group: route.group,
      message: toWire(got.content, got.properties),
      failure,
      deadLetteredAt: headerDate(headers, DEAD_LETTERED_AT_HEADER) ?? failure.lastFailureAt,
    };
  }

  /** The broker itself dead-lettered the message: it hit the group queue's delivery limit. */
  #brokerFailure(
    headers: Record<string, unknown>,
    route: { destination: string; group: string },
  ): FailureInfo {
    const deaths = headers['x-death'] as { time?: { value?: number } }[] | undefined;
    const seconds = deaths?.[0]?.time?.value;
    const at = typeof seconds === 'number' ? new Date(seconds * 1000) : new Date();
    return {
      reason: 'max_attempts',
      errorClass: 'DeliveryLimitExceeded',
      errorMessage: `Delivered more than ${this.deliveryLimit} times without being settled (its consumer crashed or lost the connection each time)`,
      errorStack: undefined,
      attempts: headerNumber(headers, 'x-delivery-count') ?? this.deliveryLimit + 1,
      firstFailureAt: at,
      lastFailureAt: at,
      destination: route.destination,
      group: route.group,
    };
  }
}

function parseFailure(text: string): FailureInfo {
  const raw = JSON.parse(text) as Omit<FailureInfo, 'firstFailureAt' | 'lastFailureAt'> & {
    firstFailureAt: string;
    lastFailureAt: string;
    errorStack: string | null | undefined;
  };
  return {
    ...raw,
    errorStack: raw.errorStack ?? undefined,
    firstFailureAt: new Date(raw.firstFailureAt),
    lastFailureAt: new Date(raw.lastFailureAt),
  };
}
