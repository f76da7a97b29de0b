import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTransport,
  DeadLetterManager,
  isCausewayError,
  MessageTooLargeError,
  PermanentError,
  type Delivery,
} from 'causeway';
import {
  groupQueueNames,
  SqsTopologyError,
  SqsTransportDriver,
  type SqsTransportOptions,
} from 'causeway/sqs';
import { transportContract } from '../contracts/transport.contract.js';
import { expectAttributeOverflow } from './fixtures/attribute-overflow-case.js';
import { collector } from './fixtures/collector.js';
import {
  runPrefix,
  sqsTestOptions,
  createHarness,
  testClientConfig,
} from './fixtures/sqs-transport-harness.js';

transportContract(createHarness({ fifo: false }));
transportContract(createHarness({ fifo: true }));

const prefix = runPrefix('x');
const destinations: { name: string; fifo: boolean }[] = [];
let counter = 0;
const fresh = (fifo = false) => {
  const name = `sqs.case${++counter}`;
  destinations.push({ name, fifo });
  return name;
};
const open: { close(): Promise<void> }[] = [];
const driverFor = (extra: Partial<SqsTransportOptions> = {}) => {
  const driver = new SqsTransportDriver(sqsTestOptions(prefix, extra));
  open.push(driver);
  return driver;
};

/** A client that records every request it sends: the test sees what SQS was asked. */
function recordingClient() {
  const client = new SQSClient(testClientConfig);
  const calls: { command: string; input: Record<string, unknown> }[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      calls.push({
        command: context.commandName ?? '',
        input: args.input as Record<string, unknown>,
      });
      return next(args);
    },
    { step: 'initialize' },
  );
  open.push({ close: async () => client.destroy() });
  return { client, calls };
}

async function queueDepth(
  client: SQSClient,
  destination: string,
  group: string,
  fifo = false,
): Promise<{ visible: number; inFlight: number }> {
  const { QueueUrl } = await client.send(
    new GetQueueUrlCommand({
      QueueName: groupQueueNames(prefix, destination, group, fifo).main,
    }),
  );
  const { Attributes = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes['ApproximateNumberOfMessages']),
    inFlight: Number(Attributes['ApproximateNumberOfMessagesNotVisible']),
  };
}

type SendEntry = {
  MessageBody: string;
  MessageAttributes: Record<string, { DataType: string; StringValue: string }>;
};

/** A message's size as SQS counts it: body, then each attribute's name, type and value. */
function sqsSize(entry: SendEntry): number {
  let size = Buffer.byteLength(entry.MessageBody);
  for (const [name, value] of Object.entries(entry.MessageAttributes))
    size += Buffer.byteLength(name + value.DataType + value.StringValue);
  return size;
}

describe('SQS transport', () => {
  afterAll(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
    for (const fifo of [false, true]) {
      const driver = new SqsTransportDriver(sqsTestOptions(prefix, { fifo }));
      for (const d of destinations.filter((x) => x.fifo === fifo))
        await driver.deleteDestination(d.name);
      await driver.close();
    }
  });

  it('splits a publish into batches of at most 10 messages and the byte limit, in order', async () => {
    const { client, calls } = recordingClient();
    const driver = driverFor({ client, maxMessageBytes: 4_096 });
    const transport = createTransport(driver);
    const destination = fresh();
    const got = collector<number>(25);
    await transport.subscribe(destination, 'batches', (m) => got.add((m.data as { n: number }).n), {
      concurrency: 1,
    });
    // 15 small messages, then 10 of ~1.5 KiB: batches bounded by the entry count first, then
    // by bytes (two big ones fit in 4 KiB, three do not).
    const messages = Array.from({ length: 25 }, (_, n) => ({
      type: 'Sized',
      data: { n, pad: n < 15 ? '' : 'x'.repeat(1_200) },
    }));
    await transport.publish(destination, messages);
    await got.complete;
    expect(got.items).toEqual(Array.from({ length: 25 }, (_, n) => n));
    const batches = calls
      .filter((c) => c.command === 'SendMessageBatchCommand')
      .map((c) => (c.input['Entries'] as SendEntry[]).map(sqsSize));
    expect(batches.map((b) => b.length)).toEqual([10, 7, 2, 2, 2, 2]);
    for (const [i, sizes] of batches.entries()) {
      const total = sizes.reduce((sum, size) => sum + size, 0);
      expect(total).toBeLessThanOrEqual(4_096);
      // Greedy: the next batch's first message would not have fitted in this one.
      const next = batches[i + 1];
      if (next && sizes.length < 10) expect(total + next[0]!).toBeGreaterThan(4_096);
    }
    await transport.close();
  });

  it('refuses a message over the size limit with a typed error naming the limit, sending nothing', async () => {
    const driver = driverFor();
    const transport = createTransport(driver);
    const destination = fresh();
    await driver.declareGroup(destination, 'sizes');
    const failure = await transport
      .publish(destination, [
        { type: 'Small', data: {} },
        { type: 'Huge', data: { blob: 'x'.repeat(262_144) } },
      ])
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MessageTooLargeError);
    expect(isCausewayError(failure) && failure.code).toBe('MESSAGE_TOO_LARGE');
    expect((failure as MessageTooLargeError).limit).toBe(262_144);
    expect((failure as Error).message).toContain('SQS message size limit');
    expect(await queueDepth(driver.client, destination, 'sizes')).toEqual({
      visible: 0,
      inFlight: 0,
    });
    await transport.close();
  });

  it('carries more CloudEvents attributes than SQS allows: the rest overflow into one attribute', async () => {
    await expectAttributeOverflow(driverFor(), fresh());
  });

  it('long polling: a consumer waiting in a receive gets a message published meanwhile', async () => {
    const { client, calls } = recordingClient();
    const driver = driverFor({ client, waitTimeSeconds: 2 });
    const transport = createTransport(driver);
    const destination = fresh();
    const got = collector<number>(1);
    await transport.subscribe(destination, 'waiting', () => got.add(performance.now()));
    // The first receive is waiting on the server when the message arrives.
    while (!calls.some((c) => c.command === 'ReceiveMessageCommand'))
      await new Promise((resolve) => setTimeout(resolve, 10));
    const sentAt = performance.now();
    await transport.publish(destination, [{ type: 'Ping', data: {} }]);
    await got.complete;
    expect(got.items[0]! - sentAt).toBeLessThan(2_000);
    expect(calls.find((c) => c.command === 'ReceiveMessageCommand')!.input['WaitTimeSeconds']).toBe(
      2,
    );
    await transport.close();
  });

  it('the heartbeat keeps a slow message from being redelivered to another consumer', async () => {
    const driver = driverFor({ visibilityTimeoutSeconds: 1 });
    const transport = createTransport(driver);
    const destination = fresh();
    const deliveries: { consumer: string; attempt: number }[] = [];
    const done = collector<string>(1);
    for (const consumer of ['slow', 'other'])
      await transport.subscribe(destination, 'lease', async (_m, { attempt }) => {
        deliveries.push({ consumer, attempt });
        // Three visibility timeouts: without the heartbeat SQS would hand it out again.
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        done.add(consumer);
      });
    await transport.publish(destination, [{ type: 'Slow', data: {} }]);
    await done.complete;
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]!.attempt).toBe(1);
    await transport.close();
    expect(await queueDepth(driver.client, destination, 'lease')).toEqual({
      visible: 0,
      inFlight: 0,
    });
  }, 15_000);

  it('DeadLetterManager lists, shows, counts, retries and purges the letters', async () => {
    const driver = driverFor();
    const transport = createTransport(driver);
    const manager = new DeadLetterManager(driver.deadLetterStore);
    const destination = fresh();
    let fixed = false;
    const handled = collector<string>(1);
    const dead = collector<string>(3);
    await transport.subscribe(
      destination,
      'billing',
      (m) => {
        if (!fixed) throw new PermanentError(`cannot bill ${(m.data as { n: number }).n}`);
        handled.add(m.id);
      },
      { onDeadLetter: (_f, m) => dead.add(m!.id) },
    );
    const ids = await transport.publish(
      destination,
      [1, 2, 3].map((n) => ({ type: 'Bill', data: { n } })),
    );
    await dead.complete;
    const letters = await manager.list({ destination });
    expect(letters.map((l) => l.messageId).sort()).toEqual([...ids].sort());
    expect(letters[0]).toMatchObject({
      destination,
      group: 'billing',
      failure: { reason: 'permanent_error', errorClass: 'PermanentError', attempts: 1 },
    });
    expect(await manager.count({ destination, error: 'cannot bill 2' })).toBe(1);
    // Listing gave every letter back: showing one finds it again.
    const shown = await manager.show(letters[1]!.id);
    expect(shown?.messageId).toBe(letters[1]!.messageId);
    expect(JSON.parse(shown!.message.body)).toEqual(
      JSON.parse(letters[1]!.message.body) as unknown,
    );

    fixed = true;
    expect(await manager.retry(letters[0]!.id)).toBe(true);
    await handled.complete;
    expect(handled.items).toEqual([letters[0]!.messageId]);
    expect(await manager.retry(letters[0]!.id)).toBe(false);
    expect(await manager.count({ destination })).toBe(2);

    expect(await manager.purge({ destination })).toBe(2);
    expect(await manager.list({ destination })).toEqual([]);
    await transport.close();
  });

  it('SQS itself dead-letters a message whose consumer never settles it (redrive policy)', async () => {
    const driver = driverFor({ visibilityTimeoutSeconds: 1, maxReceiveCount: 2 });
    const destination = fresh();
    const held: Delivery[] = [];
    // A consumer that takes messages and dies with them: its deliveries are never settled.
    const handle = await driver.consume(destination, 'crashy', { prefetch: 1 }, (d) =>
      held.push(d),
    );
    const [id] = await createTransport(driver).publish(destination, [{ type: 'Crash', data: {} }]);
    while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await handle.stop();
    await driver.close();
    // Received again by a process that dies too; the next receive finds it over the limit.
    const survivor = driverFor({ visibilityTimeoutSeconds: 1, maxReceiveCount: 2 });
    const { url } = await survivor.declareGroup(destination, 'crashy');
    let letters = await survivor.deadLetterStore.list({ destination });
    for (let i = 0; i < 20 && letters.length === 0; i++) {
      await survivor.client.send(
        new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1, VisibilityTimeout: 1 }),
      );
      letters = await survivor.deadLetterStore.list({ destination });
    }
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      messageId: id,
      destination,
      group: 'crashy',
      failure: { reason: 'max_attempts', errorClass: 'MaxReceiveCountExceeded', attempts: 2 },
    });
  }, 30_000);

  it('a queue that exists with other attributes is a typed SqsTopologyError, never changed', async () => {
    const destination = fresh();
    await driverFor().declareGroup(destination, 'strict');
    const failure = await driverFor({ visibilityTimeoutSeconds: 45 })
      .declareGroup(destination, 'strict')
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(SqsTopologyError);
    expect(isCausewayError(failure) && failure.code).toBe('TRANSPORT_SETUP');
    expect((failure as Error).message).toContain('different attributes');
  });

  it('FIFO: publishing the same message id twice stores it once (deduplication id)', async () => {
    const driver = driverFor({ fifo: true });
    const destination = fresh(true);
    await driver.declareGroup(destination, 'once');
    const transport = createTransport(driver);
    const message = { id: '0190a4b2-0000-7000-8000-000000000001', type: 'Once', data: {} };
    await transport.publish(destination, [message]);
    await transport.publish(destination, [message]);
    expect(await queueDepth(driver.client, destination, 'once', true)).toEqual({
      visible: 1,
      inFlight: 0,
    });
    await transport.close();
  });
});
