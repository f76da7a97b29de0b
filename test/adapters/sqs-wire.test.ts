/**
 * The SQS/SNS wire rules that need no broker: the 10-attribute limit with its overflow
 * attribute, batch splitting, and how partial batch failures are retried or reported.
 */
import { describe, expect, it } from 'vitest';
import { encodeBinary, isCausewayError, PublishRejectedError, toMessage } from 'causeway';
import { fromAttributes, MAX_ATTRIBUTES, OVERFLOW_ATTRIBUTE, toAttributes } from 'causeway/sqs';
import { sendBatches, splitBatches, type BatchFailure } from '../../src/adapters/sqs/sqs-batch.js';
import { outgoing } from '../../src/adapters/sqs/sqs-wire.js';

const wire = (n: number, pad = 0) =>
  outgoing(
    encodeBinary(toMessage({ type: 'T', data: { n, pad: 'x'.repeat(pad) } }), 'ce-'),
    `f${n}`,
  );

describe('SQS message attributes', () => {
  it('keeps up to 10 headers as their own attributes', () => {
    const headers = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`ce-a${i}`, `v${i}`]));
    const attributes = toAttributes(headers);
    expect(Object.keys(attributes)).toHaveLength(10);
    expect(attributes[OVERFLOW_ATTRIBUTE]).toBeUndefined();
    expect(fromAttributes(attributes)).toEqual(headers);
  });

  it('overflows the rest into one JSON attribute, keeping id and type on their own, and reads them back', () => {
    const headers: Record<string, string> = {
      ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`ce-x${i}`, `v${i}`])),
      'ce-type': 'OrderPlaced',
      'ce-id': '1',
      'ce-empty': '',
    };
    const attributes = toAttributes(headers);
    expect(Object.keys(attributes)).toHaveLength(MAX_ATTRIBUTES);
    expect(attributes['ce-type']?.StringValue).toBe('OrderPlaced');
    expect(attributes['ce-id']?.StringValue).toBe('1');
    // SQS refuses empty attribute values: they travel in the overflow.
    expect(JSON.parse(attributes[OVERFLOW_ATTRIBUTE]!.StringValue!)).toMatchObject({
      'ce-empty': '',
    });
    expect(fromAttributes(attributes)).toEqual(headers);
  });
});

describe('SQS batches', () => {
  it('splits by entry count and by bytes, in order', () => {
    const small = Array.from({ length: 23 }, (_, n) => wire(n));
    expect(splitBatches(small, 262_144).map((b) => b.length)).toEqual([10, 10, 3]);
    const big = Array.from({ length: 5 }, (_, n) => wire(n, 1_000));
    const limit = big[0]!.size * 2 + 10;
    const batches = splitBatches(big, limit);
    expect(batches.map((b) => b.length)).toEqual([2, 2, 1]);
    expect(batches.flat()).toEqual(big);
  });

  it('sends again only the entries refused for the broker’s own reasons', async () => {
    const batch = [wire(1), wire(2), wire(3)];
    const calls: string[][] = [];
    await sendBatches('d', [batch], async (entries) => {
      calls.push(entries.map((e) => e.messageId!));
      return calls.length === 1
        ? [{ index: 1, code: 'ServiceUnavailable', message: 'try again', senderFault: false }]
        : [];
    });
    expect(calls).toEqual([batch.map((w) => w.messageId), [batch[1]!.messageId]]);
  });

  it('reports refused entries with a typed error naming each, never dropping them', async () => {
    const batch = [wire(1), wire(2)];
    const failure = await sendBatches('orders', [batch], async (): Promise<BatchFailure[]> => [
      { index: 0, code: 'InvalidMessageContents', message: 'bad', senderFault: true },
    ]).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PublishRejectedError);
    expect(isCausewayError(failure) && failure.code).toBe('PUBLISH_REJECTED');
    expect((failure as PublishRejectedError).failed).toEqual([
      { messageId: batch[0]!.messageId, code: 'InvalidMessageContents', message: 'bad' },
    ]);
  });

  it('gives up on an entry still refused after three more tries', async () => {
    let calls = 0;
    const failure = await sendBatches('orders', [[wire(1)]], async () => {
      calls++;
      return [{ index: 0, code: 'Throttled', message: 'slow down', senderFault: false }];
    }).catch((e: unknown) => e);
    expect(calls).toBe(4);
    expect((failure as PublishRejectedError).failed[0]?.code).toBe('Throttled');
  });
});
