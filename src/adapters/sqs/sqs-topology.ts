import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { TransportSetupError, ValidationError } from '../../core/errors.js';
import { shortHash } from './sqs-wire.js';

/** SQS refused to create a queue as configured (or it exists with other attributes). */
export class SqsTopologyError extends TransportSetupError {}

/** Queue tags naming the destination and group in full (queue names may be shortened). */
export const DESTINATION_TAG = 'causeway:destination';
export const GROUP_TAG = 'causeway:group';

const DESTINATION_BUDGET = 30;
const GROUP_BUDGET = 20;
/** `<prefix>-dlq_` + 30 + `__` + 20 + `.fifo` fits the 80 characters SQS allows a queue name. */
const PREFIX = /^[A-Za-z0-9-]{1,18}$/;

export function assertPrefix(prefix: string): void {
  if (!PREFIX.test(prefix) || prefix.endsWith('-dlq'))
    throw new ValidationError('Invalid SQS queue prefix', [
      { path: ['prefix'], message: 'must be 1-18 letters, digits or "-", not ending in "-dlq"' },
    ]);
}

/**
 * Destination and group names allow `.`, which SQS queue names do not. A reversible escape
 * (`_` → `_5F`, `.` → `_2E`) keeps `a.b` and `a_b` apart and never produces `__`, so `__` can
 * separate the destination from the group and `<prefix>_<destination>__` lists every group's
 * queue of a destination. Names over their budget keep their start and a hash.
 */
export function sqsToken(name: string, budget: number): string {
  const token = name.replace(/[_.]/g, (c) => (c === '_' ? '_5F' : '_2E'));
  return token.length <= budget ? token : `${token.slice(0, budget - 17)}-${shortHash(name)}`;
}

export interface GroupQueueNames {
  /** The group's queue: `<prefix>_<destination>__<group>[.fifo]`. */
  main: string;
  /** Its dead-letter queue: `<prefix>-dlq_<destination>__<group>[.fifo]`. */
  deadLetters: string;
}

export function groupQueueNames(
  prefix: string,
  destination: string,
  group: string,
  fifo: boolean,
): GroupQueueNames {
  const stem = `${sqsToken(destination, DESTINATION_BUDGET)}__${sqsToken(group, GROUP_BUDGET)}`;
  const suffix = fifo ? '.fifo' : '';
  return { main: `${prefix}_${stem}${suffix}`, deadLetters: `${prefix}-dlq_${stem}${suffix}` };
}

/** The name prefix shared by every group queue of a destination. */
export function destinationQueuePrefix(prefix: string, destination: string): string {
  return `${prefix}_${sqsToken(destination, DESTINATION_BUDGET)}__`;
}

/** The name prefix of dead-letter queues: all of them, or a destination's. */
export function deadLetterQueuePrefix(prefix: string, destination?: string): string {
  return destination === undefined
    ? `${prefix}-dlq_`
    : `${prefix}-dlq_${sqsToken(destination, DESTINATION_BUDGET)}__`;
}

/** The group queue a dead-letter queue belongs to. */
export function mainQueueOf(prefix: string, deadLetterQueue: string): string {
  return `${prefix}_${deadLetterQueue.slice(`${prefix}-dlq_`.length)}`;
}

export function queueNameOf(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

export interface QueueSettings {
  fifo: boolean;
  visibilityTimeoutSeconds: number;
  /** Receives after which SQS itself moves a message to the dead-letter queue. */
  maxReceiveCount: number;
  /** Further attributes for both queues (encryption, retention…). */
  extra: Readonly<Record<string, string>>;
}

/**
 * Creates the group's dead-letter queue, then the group's queue with a redrive policy to it:
 * a message received `maxReceiveCount` times without being settled (its consumer crashed each
 * time) is moved by SQS itself. `CreateQueue` returns the existing queue when the attributes
 * match; when they differ SQS refuses, and so do we.
 */
export async function ensureGroupQueue(
  client: SQSClient,
  names: GroupQueueNames,
  tags: { destination: string; group: string },
  settings: QueueSettings,
): Promise<{ url: string; deadLetterUrl: string }> {
  const fifo: Record<string, string> = settings.fifo
    ? { FifoQueue: 'true', ContentBasedDeduplication: 'false' }
    : {};
  const Tags = { [DESTINATION_TAG]: tags.destination, [GROUP_TAG]: tags.group };
  const deadLetterUrl = await createQueue(client, names.deadLetters, Tags, {
    ...settings.extra,
    ...fifo,
    MessageRetentionPeriod: '1209600',
  });
  const arn = await queueArn(client, deadLetterUrl);
  const url = await createQueue(client, names.main, Tags, {
    ...settings.extra,
    ...fifo,
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: arn,
      maxReceiveCount: settings.maxReceiveCount,
    }),
  });
  return { url, deadLetterUrl };
}

async function createQueue(
  client: SQSClient,
  name: string,
  tags: Record<string, string>,
  attributes: Record<string, string>,
): Promise<string> {
  try {
    const { QueueUrl } = await client.send(
      new CreateQueueCommand({ QueueName: name, Attributes: attributes, tags }),
    );
    if (!QueueUrl) throw new Error('CreateQueue returned no queue URL');
    return QueueUrl;
  } catch (cause) {
    const exists =
      errorName(cause) === 'QueueNameExists' || errorName(cause) === 'QueueAlreadyExists';
    throw new SqsTopologyError(
      name,
      `Cannot create SQS queue "${name}": ${describe(cause)}` +
        (exists ? ' (it exists with different attributes; update or delete it first)' : ''),
      { cause },
    );
  }
}

export async function queueArn(client: SQSClient, url: string): Promise<string> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.['QueueArn'];
  if (!arn) throw new SqsTopologyError(url, `SQS returned no ARN for queue ${url}`);
  return arn;
}

/** Every queue whose name starts with `prefix` (SQS lists at most 1 000 per page). */
export async function listQueues(client: SQSClient, prefix: string): Promise<string[]> {
  const urls: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = await client.send(
      new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 1000, NextToken }),
    );
    urls.push(...(page.QueueUrls ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return urls;
}

export async function queueTags(client: SQSClient, url: string): Promise<Record<string, string>> {
  const { Tags } = await client.send(new ListQueueTagsCommand({ QueueUrl: url }));
  return Tags ?? {};
}

export function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
