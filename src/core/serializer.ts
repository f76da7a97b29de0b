import { SerializationError } from './errors.js';

/**
 * Events are stored and sent as JSON. `JSON.stringify` silently drops `undefined`, functions
 * and symbols and throws on `BigInt` and cycles; we turn each of those into a
 * `SerializationError` naming the path, so nothing is lost without a trace.
 */
export function serializeJson(value: unknown, what: string): string {
  // One pass on the happy path: the replacer only flags trouble; the slower walk below runs
  // just to name the offending path in the error.
  let suspicious = false;
  let text: string | undefined;
  try {
    text = JSON.stringify(value, function (this: unknown, _key: string, item: unknown) {
      if (!suspicious && isDroppedOrInvalid(item, Array.isArray(this))) suspicious = true;
      return item;
    });
  } catch (cause) {
    const problem = findUnserializable(value, [], new Set());
    throw new SerializationError(`Cannot serialize ${what}${problem ? `: ${problem}` : ''}`, {
      cause,
    });
  }
  if (suspicious || text === undefined) {
    const problem =
      findUnserializable(value, [], new Set()) ?? 'the value has no JSON representation';
    throw new SerializationError(`Cannot serialize ${what}: ${problem}`);
  }
  return text;
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isDroppedOrInvalid(item: unknown, inArray: boolean): boolean {
  switch (typeof item) {
    case 'object':
      return item !== null && !Array.isArray(item) && !isPlainObject(item);
    case 'function':
    case 'symbol':
      return true;
    case 'number':
      return !Number.isFinite(item);
    case 'undefined':
      return inArray;
    default:
      return false;
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
      if (
        !Array.isArray(value) &&
        !isPlainObject(value) &&
        typeof (value as { toJSON?: unknown }).toJSON !== 'function'
      ) {
        // Map, Set, class instances: JSON would keep only own enumerable fields (often none).
        return `${where()} is a ${value.constructor?.name ?? 'non-plain object'} (convert it to a plain object or array)`;
      }
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
