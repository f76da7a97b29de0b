import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { z } from 'zod';
import {
  CausewayError,
  ConcurrencyError,
  EventRegistry,
  everyNEvents,
  formatPath,
  isCausewayError,
  isConcurrencyError,
  serializeJson,
  SerializationError,
  validate,
  ValidationError,
} from 'causeway';

describe('errors', () => {
  it('carry a stable code, a readable message and survive a second copy of the package', () => {
    const error = new ConcurrencyError('order-1', 3, 5);
    expect(error).toBeInstanceOf(CausewayError);
    expect(error.code).toBe('CONCURRENCY');
    expect(error.name).toBe('ConcurrencyError');
    expect(error.message).toContain('order-1');
    expect(error.toJSON()).toEqual({
      name: 'ConcurrencyError',
      code: 'CONCURRENCY',
      message: error.message,
      streamId: 'order-1',
      expected: 3,
      actual: 5,
    });
    // An error thrown by another copy of the package only shares the global symbol brand.
    const foreign = Object.assign(new Error('x'), {
      code: 'CONCURRENCY',
      [Symbol.for('causeway.error')]: true,
    });
    expect(isCausewayError(foreign)).toBe(true);
    expect(isConcurrencyError(foreign)).toBe(true);
    expect(isCausewayError(new Error('plain'))).toBe(false);
  });

  it('formats field paths the way users write them', () => {
    expect(formatPath(['events', 2, 'data', 'amount'])).toBe('events[2].data.amount');
    expect(formatPath([])).toBe('(root)');
  });
});

describe('Standard Schema validation', () => {
  it('reports every failing field with its full path', async () => {
    const schema = z.object({
      amount: z.number().positive(),
      items: z.array(z.object({ sku: z.string() })),
    });
    const error = await validate(
      schema,
      { amount: -1, items: [{ sku: 1 }] },
      { what: 'order', at: ['body'] },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual([
      ['body', 'amount'],
      ['body', 'items', 0, 'sku'],
    ]);
    expect((error as Error).message).toContain('body.items[0].sku');
  });

  it('returns the parsed output', async () => {
    await expect(
      validate(z.object({ n: z.coerce.number() }), { n: '4' }, { what: 'x' }),
    ).resolves.toEqual({ n: 4 });
  });
});

describe('serializeJson', () => {
  it('names the path of values JSON would silently drop or reject', () => {
    expect(() => serializeJson({ a: { b: () => 1 } }, 'data')).toThrow(/a\.b is a function/);
    expect(() => serializeJson({ n: 1n }, 'data')).toThrow(SerializationError);
    expect(() => serializeJson({ x: Number.NaN }, 'data')).toThrow(/NaN/);
    expect(() => serializeJson([1, undefined], 'data')).toThrow(/undefined/);
    expect(() => serializeJson(undefined, 'data')).toThrow(/undefined/);
    expect(serializeJson({ a: undefined, d: new Date(0) }, 'data')).toBe(
      '{"d":"1970-01-01T00:00:00.000Z"}',
    );
  });

  it('takes the careful path past the plain-data check: holes, cycles, deep nesting', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(() => serializeJson([1, , 3], 'data')).toThrow(/\[1\] is undefined/);
    const cycle: Record<string, unknown> = { a: 1 };
    cycle['self'] = { back: cycle };
    expect(() => serializeJson(cycle, 'data')).toThrow(/circular/);
    let deep: unknown = { leaf: [1, 'two'] };
    for (let i = 0; i < 100; i++) deep = { next: deep };
    expect(serializeJson(deep, 'data')).toBe(JSON.stringify(deep));
    expect(() => serializeJson({ inside: [deep, Symbol('s')] }, 'data')).toThrow(/symbol/);
  });

  it('round-trips any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(serializeJson(value, 'v'))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});

describe('snapshot policy everyNEvents', () => {
  it('fires whenever a save crosses a multiple of n, even when it jumps over it', () => {
    const policy = everyNEvents(100);
    expect(
      policy.shouldSnapshot({
        previousVersion: 98,
        newVersion: 103,
        lastSnapshotVersion: undefined,
      }),
    ).toBe(true);
    expect(
      policy.shouldSnapshot({
        previousVersion: 99,
        newVersion: 100,
        lastSnapshotVersion: undefined,
      }),
    ).toBe(true);
    expect(
      policy.shouldSnapshot({ previousVersion: 100, newVersion: 150, lastSnapshotVersion: 100 }),
    ).toBe(false);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 250 }), { maxLength: 50 }), (sizes) => {
        let version = 0;
        let snapshots = 0;
        for (const size of sizes) {
          if (
            policy.shouldSnapshot({
              previousVersion: version,
              newVersion: version + size,
              lastSnapshotVersion: undefined,
            })
          )
            snapshots++;
          version += size;
        }
        // At least one snapshot per 250-event save window that crossed a boundary, never more than boundaries crossed.
        expect(snapshots).toBeLessThanOrEqual(Math.floor(version / 100));
        if (version >= 100) expect(snapshots).toBeGreaterThan(0);
      }),
    );
  });
});

describe('EventRegistry', () => {
  it('rejects upcasters outside the version range', () => {
    expect(() =>
      new EventRegistry().register('X', { version: 2, upcasters: { 2: (d) => d } }),
    ).toThrow(RangeError);
    expect(() => new EventRegistry().register('X', { version: 0 })).toThrow(RangeError);
  });

  it('upcasts step by step and reports the version reached', () => {
    const registry = new EventRegistry().register('X', {
      version: 3,
      upcasters: {
        1: (d) => ({ ...(d as object), v2: true }),
        2: (d) => ({ ...(d as object), v3: true }),
      },
    });
    expect(registry.upcast('X', { a: 1 }, 1, {})).toEqual({
      data: { a: 1, v2: true, v3: true },
      version: 3,
    });
    expect(registry.upcast('X', { a: 1 }, 3, {})).toEqual({ data: { a: 1 }, version: 3 });
    expect(registry.upcast('Unknown', { a: 1 }, 1, {})).toEqual({ data: { a: 1 }, version: 1 });
  });
});
