import { SerializationError } from './errors.js';

/**
 * Events are stored and sent as JSON. `JSON.stringify` silently drops `undefined`, functions
 * and symbols and throws on `BigInt` and cycles; we turn each of those into a
 * `SerializationError` naming the path, so nothing is lost without a trace.
 */
export function serializeJson(value: unknown, what: string): string {
  const problem = findUnserializable(value, [], new Set());
  if (problem) throw new SerializationError(`Cannot serialize ${what}: ${problem}`);
  try {
    return JSON.stringify(value);
  } catch (cause) {
    throw new SerializationError(`Cannot serialize ${what}`, { cause });
  }
}

export function deserializeJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new SerializationError(`Cannot parse ${what} as JSON`, { cause });
  }
}

function findUnserializable(
  value: unknown,
  path: (string | number)[],
  seen: Set<object>,
): string | undefined {
  const where = () => (path.length === 0 ? 'the value' : path.join('.'));
  switch (typeof value) {
    case 'undefined':
      return path.length === 0 ? 'the value is undefined' : undefined; // undefined properties are dropped by design
    case 'function':
    case 'symbol':
      return `${where()} is a ${typeof value}`;
    case 'bigint':
      return `${where()} is a BigInt (encode it as a string)`;
    case 'number':
      return Number.isFinite(value)
        ? undefined
        : `${where()} is ${value} (not representable in JSON)`;
    case 'object': {
      if (value === null || value instanceof Date) return undefined;
      if (seen.has(value)) return `${where()} is a circular reference`;
      seen.add(value);
      const entries = Array.isArray(value) ? value.entries() : Object.entries(value);
      for (const [key, item] of entries) {
        if (Array.isArray(value) && item === undefined) return `${where()}[${key}] is undefined`;
        const found = findUnserializable(item, [...path, key], seen);
        if (found) return found;
      }
      seen.delete(value);
      return undefined;
    }
    default:
      return undefined;
  }
}
