import type { Admin, Consumer } from '@platformatic/kafka';
import { newId } from '../../core/ids.js';
import type { WireMessage } from '../../messaging/binary-codec.js';
import {
  failureFromJson,
  matchesQuery,
  pageDeadLetters,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterStore,
} from '../../messaging/dead-letters.js';
import type { SerialProducer } from './kafka-producer.js';
import type { KafkaNames } from './kafka-topology.js';
import { CE_PREFIX, HEADERS, originalHeaders } from './kafka-wire.js';

type Bytes = Buffer | null;
/** One stored record, as the fetch API returns it (bytes, no consumer group involved). */
interface StoredRecord {
  key: string;
  value: string | undefined;
  headers: Record<string, string>;
}

const FETCH_BYTES = 8 * 1_048_576;

/**
 * Dead letters kept in each destination's `.dlq` topic: compacted, one partition, keyed by the
 * dead-letter id (a UUIDv7, so ids sort by time). A letter is a record with the original
 * headers and body plus the failure headers; removing one (retry, purge) writes a tombstone
 * for its key, which hides it at once and lets compaction drop both records later.
 *
 * Why a topic and not a table: the driver needs no database, the letters live (and are
 * replicated) with the messages, and any Kafka tool can read them. Why compacted and keyed:
 * Kafka cannot delete one record, but a tombstone per key is a delete that compaction makes
 * real. Listing reads the topic from its start, which suits queues people actually inspect
 * (thousands of letters, not millions); compaction keeps it to the live letters.
 *
 * `retry` produces the original (same message id, so an inbox downstream de-duplicates) to the
 * letter's group's retry topic — for that group only — and then writes the tombstone: a crash
 * in between can only duplicate, never lose.
 */
export class KafkaDeadLetterStore implements DeadLetterStore {
  constructor(
    private readonly names: KafkaNames,
    private readonly admin: Admin,
    private readonly reader: Consumer<string, string, string, string>,
    private readonly producer: SerialProducer,
    /** Produces a retry copy to the group's retry topic (creating it when needed). */
    private readonly sendRetry: (
      destination: string,
      group: string,
      wire: WireMessage,
      key: string | undefined,
    ) => Promise<void>,
  ) {}

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for (const topic of await this.#topics(query.destination))
      letters.push(...(await this.#read(topic)).filter((l) => matchesQuery(l, query)));
    return pageDeadLetters(letters, query, (a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    for (const topic of await this.#topics(undefined)) {
      const letter = (await this.#read(topic)).find((l) => l.id === id);
      if (letter) return letter;
    }
    return undefined;
  }

  async count(query: Omit<DeadLetterQuery, 'after' | 'limit'> = {}): Promise<number> {
    return (await this.list(query)).length;
  }

  async retry(id: string): Promise<boolean> {
    const letter = await this.get(id);
    if (!letter) return false;
    await this.sendRetry(
      letter.destination,
      letter.group,
      letter.message,
      letter.message.headers[`${CE_PREFIX}partitionkey`],
    );
    await this.#tombstone(letter);
    return true;
  }

  async purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    const doomed = (
      await this.list({ ...(query.destination ? { destination: query.destination } : {}) })
    ).filter((l) => query.olderThan === undefined || l.deadLetteredAt < query.olderThan);
    for (const letter of doomed) await this.#tombstone(letter);
    return doomed.length;
  }

  async #tombstone(letter: DeadLetter): Promise<void> {
    await this.producer.send([
      { topic: this.names.deadLetterTopic(letter.destination), key: letter.id, partition: 0 },
    ]);
  }

  /** The dead-letter topics there are (of one destination, or all under the prefix). */
  async #topics(destination: string | undefined): Promise<string[]> {
    const wanted = destination === undefined ? undefined : this.names.deadLetterTopic(destination);
    return (await this.admin.listTopics()).filter((topic) =>
      wanted === undefined
        ? this.names.destinationOfDeadLetterTopic(topic) !== undefined
        : topic === wanted,
    );
  }

  /** The live letters of one dead-letter topic: every record, minus the tombstoned keys. */
  async #read(topic: string): Promise<DeadLetter[]> {
    const live = new Map<string, DeadLetter>();
    for (const record of await this.#fetchAll(topic)) {
      if (record.value === undefined) {
        live.delete(record.key);
        continue;
      }
      const letter = toLetter(record.key, record.headers, record.value);
      if (letter) live.set(record.key, letter);
    }
    return [...live.values()];
  }

  /** Reads every record from the log start to the end, without joining a consumer group. */
  async #fetchAll(topic: string): Promise<StoredRecord[]> {
    const metadata = await this.reader.metadata({ topics: [topic], forceUpdate: true });
    const info = metadata.topics.get(topic)!;
    const [earliest, latest] = await Promise.all([
      this.reader.listOffsets({ topics: [topic], timestamp: -2n }),
      this.reader.listOffsets({ topics: [topic], timestamp: -1n }),
    ]);
    const records: StoredRecord[] = [];
    for (let partition = 0; partition < info.partitionsCount; partition++) {
      let offset = earliest.get(topic)?.[partition] ?? 0n;
      const end = latest.get(topic)?.[partition] ?? 0n;
      while (offset < end) {
        const response = await this.reader.fetch({
          node: info.partitions[partition]!.leader,
          maxWaitTime: 0,
          minBytes: 1,
          maxBytes: FETCH_BYTES,
          topics: [
            {
              topicId: info.id,
              partitions: [
                {
                  partition,
                  fetchOffset: offset,
                  partitionMaxBytes: FETCH_BYTES,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                },
              ],
            },
          ],
        });
        const batches = response.responses[0]?.partitions[0]?.records ?? [];
        const before = offset;
        for (const batch of batches) {
          for (const record of batch.records) {
            const at = batch.firstOffset + BigInt(record.offsetDelta);
            if (at < offset || record.key === null) continue;
            records.push({
              key: text(record.key),
              value: record.value === null ? undefined : text(record.value),
              headers: Object.fromEntries(
                record.headers.map(([name, value]: [Bytes, Bytes]) => [text(name), text(value)]),
              ),
            });
          }
          offset = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
        }
        // Compaction can leave a gap with no batch: nothing more to read below the end.
        if (offset === before) break;
      }
    }
    return records;
  }
}

function text(bytes: Bytes): string {
  return bytes === null ? '' : bytes.toString('utf8');
}

function toLetter(
  id: string,
  headers: Record<string, string>,
  body: string,
): DeadLetter | undefined {
  const json = headers[HEADERS.failure];
  if (json === undefined) return undefined;
  const failure = failureFromJson(json);
  const message = { headers: originalHeaders(headers), body };
  const at = headers[HEADERS.deadLetteredAt];
  return {
    id,
    messageId: message.headers[`${CE_PREFIX}id`],
    destination: failure.destination,
    group: failure.group,
    message,
    failure,
    deadLetteredAt: at === undefined ? failure.lastFailureAt : new Date(at),
  };
}

/** A new dead-letter id: time-ordered, so listing by id lists oldest first. */
export const newDeadLetterId = (): string => newId();
