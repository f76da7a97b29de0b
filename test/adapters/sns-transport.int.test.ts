import { afterAll, describe, expect, it } from 'vitest';
import { createTransport, MessageTooLargeError, type Message } from 'causeway';
import { SnsTransportDriver, type SnsTransportOptions } from 'causeway/sns';
import { transportContract } from '../contracts/transport.contract.js';
import { expectAttributeOverflow } from './fixtures/attribute-overflow-case.js';
import { collector } from './fixtures/collector.js';
import { createHarness, snsTestOptions } from './fixtures/sns-transport-harness.js';
import { runPrefix } from './fixtures/sqs-transport-harness.js';

transportContract(createHarness());
transportContract(createHarness({ fifo: true }));

const prefix = runPrefix('m');
const destinations: string[] = [];
let counter = 0;
const fresh = () => {
  const name = `sns.case${++counter}`;
  destinations.push(name);
  return name;
};
const open: { close(): Promise<void> }[] = [];
const driverFor = (extra: Partial<SnsTransportOptions> = {}) => {
  const driver = new SnsTransportDriver(snsTestOptions(prefix, extra));
  open.push(driver);
  return driver;
};

describe('SNS transport', () => {
  afterAll(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
    const driver = new SnsTransportDriver(snsTestOptions(prefix));
    for (const destination of destinations) await driver.deleteDestination(destination);
    await driver.close();
  });

  it('a filter policy on the event type keeps other types out of a group’s queue', async () => {
    const driver = driverFor({
      filterTypes: (_destination, group) => (group === 'shipping' ? ['OrderPaid'] : undefined),
    });
    const transport = createTransport(driver);
    const destination = fresh();
    const shipping = collector<Message>(2);
    const audit = collector<Message>(4);
    const deadLettered: string[] = [];
    await transport.subscribe(destination, 'shipping', (m) => shipping.add(m), {
      types: ['OrderPaid'],
      onDeadLetter: (f) => deadLettered.push(f.reason),
    });
    await transport.subscribe(destination, 'audit', (m) => audit.add(m));
    await transport.publish(destination, [
      { type: 'OrderPlaced', data: { n: 1 } },
      { type: 'OrderPaid', data: { n: 2 } },
      { type: 'OrderPlaced', data: { n: 3 } },
      { type: 'OrderPaid', data: { n: 4 } },
    ]);
    await Promise.all([shipping.complete, audit.complete]);
    expect(shipping.items.map((m) => (m.data as { n: number }).n)).toEqual([2, 4]);
    expect(audit.items.map((m) => (m.data as { n: number }).n).sort()).toEqual([1, 2, 3, 4]);
    // Filtered by SNS, not received and dead-lettered as an unknown type by the runtime.
    expect(deadLettered).toEqual([]);
    expect(await driver.deadLetterStore.count({ destination })).toBe(0);
    await transport.close();
  });

  it('carries more CloudEvents attributes than SNS delivers to SQS: the rest overflow into one attribute', async () => {
    await expectAttributeOverflow(driverFor(), fresh());
  });

  it('refuses a message over the SNS size limit with a typed error, publishing nothing', async () => {
    const driver = driverFor({ maxMessageBytes: 1_048_576 });
    const transport = createTransport(driver);
    const destination = fresh();
    const got = collector<Message>(1);
    await transport.subscribe(destination, 'sizes', (m) => got.add(m));
    const failure = await transport
      .publish(destination, [
        { type: 'Small', data: {} },
        { type: 'Huge', data: { blob: 'x'.repeat(262_144) } },
      ])
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MessageTooLargeError);
    // SNS caps it at 256 KiB even when the SQS limit was raised.
    expect((failure as MessageTooLargeError).limit).toBe(262_144);
    expect((failure as Error).message).toContain('SNS message size limit');
    await transport.publish(destination, [{ type: 'After', data: {} }]);
    await got.complete;
    expect(got.items.map((m) => m.type)).toEqual(['After']);
    await transport.close();
  });
});
