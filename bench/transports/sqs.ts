import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import type { TransportDriver } from 'causeway';
import { loadAdapter } from '../causeway.js';
import { causewayDeletingDestinations } from './causeway-side.js';
import {
  BATCH_SIZE,
  cloudEventHeaders,
  endToEndRound,
  payload,
  payloads,
  PREFETCH,
  Tally,
  uniqueName,
  type Payload,
  type TransportContestant,
  type TransportEntrant,
} from './workload.js';

/**
 * Amazon SQS contestants, measured on moto (an in-memory emulator, slow and single-process):
 * the figures say nothing about AWS, only the ratio between the two sides means anything.
 * One standard queue per destination and group; publishes are `SendMessage` (one message) or
 * `SendMessageBatch` of 10 at a time, one batch after the other as Causeway sends them, with
 * the CloudEvents attributes as message attributes; one long-polling `ReceiveMessage` loop of at
 * most 10 per call and 16 unsettled, each received batch deleted with `DeleteMessageBatch` after
 * its handlers. The raw side is `@aws-sdk/client-sqs` doing exactly that; `causeway/sns` reuses
 * its consumer (SNS → SQS).
 */

/** SQS allows at most 10 entries per batch call. */
export const SQS_BATCH = 10;
/** Long polling as Causeway's driver does by default (returns as soon as messages arrive). */
export const WAIT_TIME_SECONDS = 10;

export function awsEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env['CAUSEWAY_SQS_ENDPOINT'] ?? 'http://127.0.0.1:4566';
}

/** Client settings for moto (any region and credentials do). */
export function awsClientConfig(endpoint: string, env: NodeJS.ProcessEnv = process.env) {
  return {
    endpoint,
    region: env['AWS_REGION'] ?? 'us-east-1',
    credentials: {
      accessKeyId: env['AWS_ACCESS_KEY_ID'] ?? 'test',
      secretAccessKey: env['AWS_SECRET_ACCESS_KEY'] ?? 'test',
    },
  };
}

export const MOTO_NOTE =
  'moto, an in-memory emulator of AWS, not SQS/SNS: its rates say nothing about AWS, only the ratio Causeway ÷ raw means anything';

export async function sqsSettings(endpoint: string): Promise<Record<string, string>> {
  const client = new SQSClient(awsClientConfig(endpoint));
  try {
    await client.send(new ListQueuesCommand({ MaxResults: 1 }));
  } finally {
    client.destroy();
  }
  return {
    'sqs.server': `${endpoint}: ${MOTO_NOTE}`,
    'sqs.topology': `per side: one standard queue per destination and group (Causeway adds its dead-letter queue), long polling (${WAIT_TIME_SECONDS} s), visibility timeout 30 s`,
  };
}

/** The CloudEvents headers as SQS string attributes, as `causeway/sqs` writes them. */
export function attributes(): Record<string, MessageAttributeValue> {
  const headers = { ...cloudEventHeaders('ce-'), 'content-type': 'application/json' };
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [
      name,
      { DataType: 'String', StringValue: value },
    ]),
  );
}

/** `send` for each chunk of at most 10, one after the other. */
export async function inBatches(
  bodies: readonly Payload[],
  send: (chunk: readonly Payload[]) => Promise<unknown>,
): Promise<void> {
  for (let start = 0; start < bodies.length; start += SQS_BATCH)
    await send(bodies.slice(start, start + SQS_BATCH));
}

export async function createQueue(client: SQSClient, name: string): Promise<string> {
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name }));
  return QueueUrl!;
}

/**
 * The raw consumer: long-polls the queue for up to 10 messages while fewer than 16 are
 * unsettled, runs the handler on each, deletes the batch with one `DeleteMessageBatch`
 * (not awaited before the next receive, counted against the 16). `stop` aborts the poll.
 */
export function rawSqsConsumer(client: SQSClient, queueUrl: string, tally: Tally) {
  const abort = new AbortController();
  let unsettled = 0;
  let wake: (() => void) | undefined;
  const consuming = (async () => {
    while (!abort.signal.aborted) {
      const room = PREFETCH - unsettled;
      if (room <= 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const { Messages = [] } = await client
        .send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(SQS_BATCH, room),
            WaitTimeSeconds: WAIT_TIME_SECONDS,
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: abort.signal },
        )
        .catch(() => ({ Messages: [] }));
      if (Messages.length === 0) continue;
      for (const m of Messages) tally.receive(JSON.parse(m.Body!) as Payload);
      unsettled += Messages.length;
      void client
        .send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        )
        .catch(() => undefined)
        .finally(() => {
          unsettled -= Messages.length;
          wake?.();
        });
    }
  })();
  return {
    stop: async () => {
      abort.abort();
      wake?.();
      await consuming;
    },
  };
}

/** What a raw contestant on SQS queues (fed directly or by SNS) needs from its backend. */
export interface RawQueueSide {
  /** Publishes one message to the publish-only destination, confirmed. */
  publishOne(body: Payload): Promise<void>;
  /** Publishes to the end-to-end destination (`e2e`) or the publish-only one, confirmed. */
  publishBatch(bodies: readonly Payload[], e2e: boolean): Promise<void>;
  /** The queue the end-to-end destination delivers to. */
  e2eQueueUrl: string;
  close(): Promise<void>;
}

/** A raw contestant around `side`: the shared consumer, tally and round loop. */
export function rawQueueContestant(client: SQSClient, side: RawQueueSide): TransportContestant {
  const tally = new Tally();
  const consumer = rawSqsConsumer(client, side.e2eQueueUrl, tally);
  return {
    publishOne: (i) => side.publishOne(payload(i)),
    publishBatch: (i, size) => side.publishBatch(payloads(i * BATCH_SIZE, size), false),
    endToEnd: (count) => endToEndRound(tally, count, (bodies) => side.publishBatch(bodies, true)),
    close: async () => {
      await consumer.stop();
      await side.close();
      client.destroy();
    },
  };
}

export function sqsBaseline(endpoint: string): TransportEntrant {
  return {
    label: '@aws-sdk/client-sqs',
    open: async () => {
      const client = new SQSClient(awsClientConfig(endpoint));
      const prefix = uniqueName('bench-raw');
      const [publishUrl, e2eUrl] = await Promise.all([
        createQueue(client, `${prefix}-publish`),
        createQueue(client, `${prefix}-e2e`),
      ]);
      return rawQueueContestant(client, {
        publishOne: async (body) =>
          void (await client.send(
            new SendMessageCommand({
              QueueUrl: publishUrl,
              MessageBody: JSON.stringify(body),
              MessageAttributes: attributes(),
            }),
          )),
        publishBatch: (bodies, e2e) =>
          inBatches(bodies, (chunk) =>
            client.send(
              new SendMessageBatchCommand({
                QueueUrl: e2e ? e2eUrl : publishUrl,
                Entries: chunk.map((body, i) => ({
                  Id: String(i),
                  MessageBody: JSON.stringify(body),
                  MessageAttributes: attributes(),
                })),
              }),
            ),
          ),
        e2eQueueUrl: e2eUrl,
        close: async () => {
          for (const url of [publishUrl, e2eUrl])
            await client.send(new DeleteQueueCommand({ QueueUrl: url }));
        },
      });
    },
  };
}

/** `SqsTransportDriver` or `SnsTransportDriver` (a subclass, same options here). */
type QueueDriverClass = new (options: {
  clientConfig?: ReturnType<typeof awsClientConfig>;
  prefix?: string;
}) => TransportDriver & { deleteDestination(destination: string): Promise<void> };

/** Causeway on `causeway/sqs` or `causeway/sns` (production defaults, a unique queue prefix). */
export async function queueDriverCauseway(
  entry: 'sqs' | 'sns',
  endpoint: string,
): Promise<TransportEntrant> {
  const exportName = entry === 'sqs' ? 'SqsTransportDriver' : 'SnsTransportDriver';
  const adapter = await loadAdapter<Record<string, QueueDriverClass>>(
    `causeway/${entry}`,
    `src/adapters/${entry}/index.ts`,
    [exportName],
  );
  if (!adapter.ok) return { reason: adapter.reason };
  const Driver = adapter.module[exportName]!;
  return {
    label: `causeway/${entry}`,
    open: () => {
      const prefix = uniqueName('bench-cw');
      const clientConfig = awsClientConfig(endpoint);
      return causewayDeletingDestinations(async () => new Driver({ clientConfig, prefix }));
    },
  };
}

export const sqsCauseway = (endpoint: string) => queueDriverCauseway('sqs', endpoint);
