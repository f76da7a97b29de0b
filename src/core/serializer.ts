import { SerializationError } from './errors.js';

/**
 * Events are stored and sent as JSON. `JSON.stringify` silently drops `undefined`, functions
 * and symbols and throws on `BigInt` and cycles; we turn each of those into a
 * `SerializationError` naming the path, so nothing is lost without a trace.
 */
export function serializeJson(value: unknown, what: string): string {
  // The happy path: a walk that proves the value is plain data (nothing JSON would drop or
  // mangle), then V8's native stringify. A replacer would take it off its fast path: with
  // one, serializing a message's data cost four times as much.
  if (isPlainData(value, 0)) return JSON.stringify(value);
  // Anything else (a Date, a class, a cycle, too deep to walk): the replacer only flags
  // trouble; the slower walk below runs just to name the offending path in the error.
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

/** How deep `isPlainData` walks before leaving the value to the replacer (cycles end there). */
const PLAIN_DEPTH = 32;

/**
 * True when `value` is only strings, booleans, null, finite numbers, plain objects and arrays
 * without holes or undefined items: what `JSON.stringify` writes as is. False for anything
 * else, including what it could handle (a Date): false only means "take the careful path".
 */
function isPlainData(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth >= PLAIN_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined || !isPlainData(item, depth + 1)) return false;
        }
        return true;
      }
      if (!isPlainObject(value)) return false;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        const item = (value as Record<string, unknown>)[key];
        // An undefined property is dropped by design (as the replacer path allows).
        if (item !== undefined && !isPlainData(item, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
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
