import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message as SqsMessage,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  matchesQuery,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterStore,
} from '../../messaging/dead-letters.js';
import { MAX_BATCH_ENTRIES } from './sqs-batch.js';
import { FAILURE_ATTRIBUTE, parseFailure, REASON_ATTRIBUTE } from './sqs-delivery.js';
import {
  deadLetterQueuePrefix,
  DESTINATION_TAG,
  errorName,
  GROUP_TAG,
  listQueues,
  mainQueueOf,
  queueNameOf,
  queueTags,
} from './sqs-topology.js';
import { CE_PREFIX, fromAttributes, outgoing } from './sqs-wire.js';

export interface SqsDeadLetterSettings {
  prefix: string;
  fifo: boolean;
  /** What SQS's redrive policy allows; reported as the attempts of letters SQS moved itself. */
  maxReceiveCount: number;
  /** How long a scan keeps the letters it read invisible. Default 30 s. */
  scanVisibilitySeconds?: number;
  /** How long the receive that ends a scan waits; SQS only reads every server when > 0. Default 1 s. */
  scanWaitSeconds?: number;
}

/** What a scan does after a letter: read on, or stop; `deleted` says the visitor deleted it. */
type Visit = (
  letter: DeadLetter,
  receipt: string,
) => Promise<{ deleted?: boolean; stop?: boolean }>;

/**
 * Dead letters kept in each group's dead-letter queue, `<prefix>-dlq_<destination>__<group>`; a
 * letter's id is `<queue name>:<SQS message id>`. SQS cannot browse a queue, so every operation
 * *scans*: it receives the queue's messages with a visibility timeout (they stay hidden from
 * other readers meanwhile), keeps what it needs, and makes the rest visible again. Hence: a
 * listing costs a receive per 10 letters plus one final empty long poll per queue, two scans at
 * once each see only part of a queue, and the order is rebuilt from the dead-letter times.
 * Letters the runtime wrote carry the failure as attributes; letters SQS moved by itself (the
 * redrive policy: a consumer crashed on them `maxReceiveCount` times) are reported as
 * `max_attempts` / `MaxReceiveCountExceeded`, dated by when they were first sent.
 */
export class SqsDeadLetterStore implements DeadLetterStore {
  readonly #tags = new Map<string, Promise<Record<string, string>>>();
  readonly #urls = new Map<string, string>();

  constructor(
    private readonly client: SQSClient,
    private readonly settings: SqsDeadLetterSettings,
  ) {}

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for (const url of await this.#queues(query.destination))
      await this.#scan(url, async (letter) => {
        if (matchesQuery(letter, query)) letters.push(letter);
        return {};
      });
    letters.sort(
      (a, b) =>
        a.deadLetteredAt.getTime() - b.deadLetteredAt.getTime() ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    const start =
      query.after === undefined ? 0 : letters.findIndex((l) => l.id === query.after) + 1;
    return letters.slice(start, query.limit === undefined ? undefined : start + query.limit);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    let found: DeadLetter | undefined;
    await this.#find(id, async (letter) => {
      found = letter;
      return {};
    });
    return found;
  }

  async count(query: Omit<DeadLetterQuery, 'after' | 'limit'> = {}): Promise<number> {
    return (await this.list(query)).length;
  }

  /**
   * Sends the letter back to its group's queue (same message id, attempts from 1) and then
   * deletes it: a crash in between can only duplicate, which an inbox removes.
   */
  async retry(id: string): Promise<boolean> {
    let retried = false;
    await this.#find(id, async (letter, receipt) => {
      const queue = queueNameOf(id.slice(0, id.lastIndexOf(':')));
      const url = await this.#url(mainQueueOf(this.settings.prefix, queue));
      const sqsId = id.slice(id.lastIndexOf(':') + 1);
      // A fresh deduplication id: the message id may still be in the FIFO queue's 5-minute window.
      const wire = outgoing(letter.message, sqsId, `retry-${sqsId}`);
      await this.client.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: wire.body,
          MessageAttributes: wire.attributes,
          ...(this.settings.fifo
            ? { MessageGroupId: wire.groupId, MessageDeduplicationId: wire.deduplicationId }
            : {}),
        }),
      );
      await this.#delete(id, receipt);
      retried = true;
      return { deleted: true };
    });
    return retried;
  }

  async purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    let removed = 0;
    for (const url of await this.#queues(query.destination))
      await this.#scan(url, async (letter, receipt) => {
        if (query.olderThan !== undefined && letter.deadLetteredAt >= query.olderThan) return {};
        await this.#delete(letter.id, receipt);
        removed++;
        return { deleted: true };
      });
    return removed;
  }

  async #find(id: string, visit: Visit): Promise<void> {
    const at = id.lastIndexOf(':');
    if (at <= 0) return;
    const queue = id.slice(0, at);
    if (!queue.startsWith(deadLetterQueuePrefix(this.settings.prefix))) return;
    let url: string;
    try {
      url = await this.#url(queue);
    } catch (error) {
      if (isMissingQueue(error)) return;
      throw error;
    }
    await this.#scan(url, async (letter, receipt) =>
      letter.id === id ? { ...(await visit(letter, receipt)), stop: true } : {},
    );
  }

  /** Reads the queue letter by letter, holding each invisible until the scan ends. */
  async #scan(url: string, visit: Visit): Promise<void> {
    const held = new Set<string>();
    const seen = new Set<string>();
    try {
      for (;;) {
        const { Messages = [] } = await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: MAX_BATCH_ENTRIES,
            WaitTimeSeconds: this.settings.scanWaitSeconds ?? 1,
            VisibilityTimeout: this.settings.scanVisibilitySeconds ?? 30,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['SentTimestamp'],
          }),
        );
        if (Messages.length === 0) return;
        // Held before any is visited: a scan that stops early gives the whole batch back.
        for (const { ReceiptHandle } of Messages) if (ReceiptHandle) held.add(ReceiptHandle);
        for (const received of Messages) {
          if (!received.ReceiptHandle || !received.MessageId) continue;
          // A standard queue may hand the same message out twice: visit it once.
          if (seen.has(received.MessageId)) continue;
          seen.add(received.MessageId);
          const outcome = await visit(await this.#toLetter(url, received), received.ReceiptHandle);
          if (outcome.deleted) held.delete(received.ReceiptHandle);
          if (outcome.stop) return;
        }
      }
    } finally {
      await this.#release(url, [...held]);
    }
  }

  async #release(url: string, receipts: string[]): Promise<void> {
    for (let start = 0; start < receipts.length; start += MAX_BATCH_ENTRIES)
      await this.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: receipts.slice(start, start + MAX_BATCH_ENTRIES).map((ReceiptHandle, i) => ({
            Id: String(i),
            ReceiptHandle,
            VisibilityTimeout: 0,
          })),
        }),
      );
  }

  async #delete(id: string, receipt: string): Promise<void> {
    const url = await this.#url(id.slice(0, id.lastIndexOf(':')));
    await this.client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: receipt }));
  }

  async #toLetter(url: string, received: SqsMessage): Promise<DeadLetter> {
    const all = fromAttributes(received.MessageAttributes);
    const headers = Object.fromEntries(
      Object.entries(all).filter(
        ([name]) => name !== FAILURE_ATTRIBUTE && name !== REASON_ATTRIBUTE,
      ),
    );
    const sentAt = new Date(Number(received.Attributes?.['SentTimestamp'] ?? Date.now()));
    let failure = parseFailure(all[FAILURE_ATTRIBUTE]);
    if (!failure) {
      const tags = await this.#queueTags(url);
      failure = {
        reason: 'max_attempts',
        errorClass: 'MaxReceiveCountExceeded',
        errorMessage:
          `Received ${this.settings.maxReceiveCount} times without being settled (its consumer ` +
          'crashed or outlived the visibility timeout); SQS moved it here by its redrive policy',
        errorStack: undefined,
        attempts: this.settings.maxReceiveCount,
        firstFailureAt: sentAt,
        lastFailureAt: sentAt,
        destination: tags[DESTINATION_TAG] ?? '',
        group: tags[GROUP_TAG] ?? '',
      };
    }
    return {
      id: `${queueNameOf(url)}:${received.MessageId!}`,
      messageId: headers[`${CE_PREFIX}id`],
      destination: failure.destination,
      group: failure.group,
      message: { headers, body: received.Body ?? '' },
      failure,
      deadLetteredAt: failure.lastFailureAt,
    };
  }

  #queues(destination: string | undefined): Promise<string[]> {
    return listQueues(this.client, deadLetterQueuePrefix(this.settings.prefix, destination)).then(
      (urls) => urls.filter((url) => url.endsWith('.fifo') === this.settings.fifo),
    );
  }

  #queueTags(url: string): Promise<Record<string, string>> {
    let tags = this.#tags.get(url);
    if (!tags) {
      tags = queueTags(this.client, url);
      tags.catch(() => this.#tags.delete(url));
      this.#tags.set(url, tags);
    }
    return tags;
  }

  async #url(queueName: string): Promise<string> {
    let url = this.#urls.get(queueName);
    if (url === undefined) {
      ({ QueueUrl: url } = await this.client.send(
        new GetQueueUrlCommand({ QueueName: queueName }),
      ));
      this.#urls.set(queueName, url!);
    }
    return url!;
  }
}

function isMissingQueue(error: unknown): boolean {
  const name = errorName(error);
  return name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue';
}
