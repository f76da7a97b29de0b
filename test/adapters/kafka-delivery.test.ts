import { describe, expect, it } from 'vitest';
import { encodeBinary, toMessage } from 'causeway';
// Internal: the delivery wrapper, tested on its own for headers a foreign producer may send.
import { toDelivery, type KafkaWire } from '../../src/adapters/kafka/kafka-delivery.js';
import type { KafkaRecord } from '../../src/adapters/kafka/kafka-group-reader.js';
import { CE_PREFIX, HEADERS } from '../../src/adapters/kafka/kafka-wire.js';

function record(extra: Record<string, string>): KafkaRecord {
  const wire = encodeBinary(toMessage({ type: 'OrderPlaced', data: { n: 1 } }), CE_PREFIX);
  return {
    key: 'k',
    value: wire.body,
    headers: new Map(Object.entries({ ...wire.headers, ...extra })),
    topic: 't',
    partition: 0,
    offset: 0n,
    timestamp: 0n,
  } as unknown as KafkaRecord;
}

describe('Kafka delivery headers', () => {
  it('a malformed first-failure or attempt header does not break the retry', async () => {
    const retries: KafkaWire[] = [];
    let settled = 0;
    const delivery = toDelivery(
      record({ [HEADERS.firstFailureAt]: 'not a date', [HEADERS.attempt]: 'abc' }),
      {
        publishRetry: (wire) => {
          retries.push(wire);
          return Promise.resolve();
        },
        publishDeadLetter: () => Promise.resolve(),
        settled: () => settled++,
        released: () => undefined,
        failed: () => undefined,
      },
    );
    expect(delivery.firstFailureAt).toBeUndefined();
    expect(delivery.attempt).toBe(1);
    const at = new Date('2026-01-02T03:04:05.000Z');
    await delivery.retry(0, { at, error: 'boom' });
    expect(settled).toBe(1);
    expect(retries[0]?.headers[HEADERS.firstFailureAt]).toBe(at.toISOString());
    expect(retries[0]?.headers[HEADERS.attempt]).toBe('2');
    // Settled once: a second settlement is a rejection (never a throw, never a second commit).
    await expect(delivery.ack()).rejects.toThrow('was already settled');
    expect(settled).toBe(1);
  });
});
