import { ValidationError } from '../../core/errors.js';

/**
 * Everything derived from the schema name: the quoted identifier, the advisory lock keys and
 * the notification channel. Several stores may share one database in different schemas;
 * their keys differ, so their writers and readers never wait on each other.
 */
export interface SchemaIdentity {
  readonly schema: string;
  /** The schema as a quoted SQL identifier. */
  readonly quoted: string;
  /**
   * Lock K, which serializes position allocation. It is also the base of the schema's
   * in-flight keys: `allocationLock + first position` (positions start at 1, so K itself
   * never collides with one).
   */
  readonly allocationLock: bigint;
  /** The two int4 keys of the migration lock (a key space apart from the bigint keys). */
  readonly migrationLock: readonly [number, number];
  readonly channel: string;
  /** Prefix of prepared statement names, unique per schema. */
  readonly statementPrefix: string;
}

export const DEFAULT_SCHEMA = 'public';

/** The bits of an in-flight lock key that hold the position (about 8.8 trillion). */
export const POSITION_BITS = 43n;

// Plain identifiers only: the name is spliced into DDL, function bodies and a channel name.
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const CHANNEL_SUFFIX = '_causeway_events';
/** "CWmg" in ASCII: the first int4 key of every Causeway migration lock. */
const MIGRATION_LOCK_CLASS = 0x43576d67;
/** Tags are 20 bits so `tag << 43` stays a positive bigint. */
const TAG_BITS = 20n;

const identities = new Map<string, SchemaIdentity>();

export function schemaIdentity(schema: string = DEFAULT_SCHEMA): SchemaIdentity {
  const cached = identities.get(schema);
  if (cached) return cached;
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new ValidationError('Invalid PostgreSQL options', [
      {
        path: ['schema'],
        message: `must be 1-63 letters, digits or underscores, not starting with a digit; got ${JSON.stringify(schema)}`,
      },
    ]);
  }
  const hash = fnv1a64(`causeway:${schema}`);
  const tag = (hash % ((1n << TAG_BITS) - 1n)) + 1n;
  // A channel name is at most 63 bytes; long schema names fall back to their hash.
  const channel =
    schema.length + CHANNEL_SUFFIX.length <= 63
      ? `${schema}${CHANNEL_SUFFIX}`
      : `cw_${hash.toString(16)}${CHANNEL_SUFFIX}`;
  const identity: SchemaIdentity = {
    schema,
    quoted: `"${schema}"`,
    allocationLock: tag << POSITION_BITS,
    migrationLock: [MIGRATION_LOCK_CLASS, Number(BigInt.asIntN(32, hash))],
    channel,
    statementPrefix: `cw_${hash.toString(16)}_`,
  };
  identities.set(schema, identity);
  return identity;
}

/** 64-bit FNV-1a: stable across processes and versions, unlike PostgreSQL's `hashtext`. */
function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}
