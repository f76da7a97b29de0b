import type { Channel, ChannelModel } from 'amqplib';
import type { RabbitMqNames } from './rabbitmq-topology.js';

/**
 * What one driver declared: for `topology()` and for deleting a destination again. Without
 * the management API a client cannot list queues, so this is the only record of the groups
 * and retry buckets it knows of.
 */
export class DeclaredTopology {
  readonly exchanges = new Set<string>();
  readonly queues = new Set<string>();
  /** Groups consumed, by destination; retry buckets, by group queue. */
  readonly #groups = new Map<string, Set<string>>();
  readonly #retryQueues = new Map<string, Set<string>>();

  group(destination: string, group: string, queue: string): void {
    this.queues.add(queue);
    addTo(this.#groups, destination, group);
  }

  retryQueue(groupQueue: string, queue: string): void {
    this.queues.add(queue);
    addTo(this.#retryQueues, groupQueue, queue);
  }

  groupsOf(destination: string): string[] {
    return [...(this.#groups.get(destination) ?? [])];
  }

  /** A deleted queue or exchange: no longer part of `topology()`. */
  forget(name: string): void {
    this.queues.delete(name);
    this.exchanges.delete(name);
    this.#retryQueues.delete(name);
  }

  /**
   * Deletes the destination's exchange and each group's queue with the retry buckets declared
   * here for it (a missing one is no error: RabbitMQ's deletes are idempotent); returns every
   * name it deleted, for the caller to forget.
   */
  async deleteDestination(
    channel: Channel,
    names: RabbitMqNames,
    destination: string,
    groups: Iterable<string>,
  ): Promise<string[]> {
    const deleted: string[] = [];
    for (const group of groups) {
      const queue = names.queue(destination, group);
      for (const retry of this.#retryQueues.get(queue) ?? []) {
        await channel.deleteQueue(retry);
        deleted.push(retry);
      }
      await channel.deleteQueue(queue);
      deleted.push(queue);
    }
    await channel.deleteExchange(names.exchange(destination));
    deleted.push(names.exchange(destination));
    this.#groups.delete(destination);
    for (const name of deleted) this.forget(name);
    return deleted;
  }
}

/** `checkQueue` on a channel of its own: a missing queue fails it with 404 and closes it. */
export async function queueExists(connection: ChannelModel, queue: string): Promise<boolean> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    await channel.checkQueue(queue);
    await channel.close().catch(() => undefined);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) return false;
    throw error;
  }
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}
