import type { StandardSchemaV1 } from '../core/schema.js';
import { validate } from '../core/schema.js';
import { UpcastError } from '../core/errors.js';

/** Turns `data` written at schema version `n` into the shape of version `n + 1`. */
export type Upcaster = (
  data: unknown,
  context: { type: string; metadata: Record<string, unknown> },
) => unknown;

export interface EventTypeDefinition {
  /** Validates `data` on append (any Standard Schema: zod, valibot, arktype…). */
  schema?: StandardSchemaV1;
  /** The current schema version of `data`; new appends are stamped with it. Default 1. */
  version?: number;
  /**
   * Upcasters keyed by the version they upgrade *from*: `{ 1: v1ToV2, 2: v2ToV3 }`.
   * On read, an event stored at version 1 runs through 1 → 2 → 3 before anyone sees it.
   */
  upcasters?: Readonly<Record<number, Upcaster>>;
}

interface Registered {
  schema: StandardSchemaV1 | undefined;
  version: number;
  upcasters: ReadonlyMap<number, Upcaster>;
}

/**
 * What the store knows about event types: schemas, the current schema version and the
 * upcasters that bring old events to it. The schema version is stored in its own column,
 * never inside `data`. Types that were never registered pass through unchecked at version 1.
 */
export class EventRegistry {
  readonly #types = new Map<string, Registered>();

  register(type: string, definition: EventTypeDefinition): this {
    const version = definition.version ?? 1;
    if (!Number.isInteger(version) || version < 1) {
      throw new RangeError(`Event type "${type}": version must be an integer >= 1, got ${version}`);
    }
    const upcasters = new Map<number, Upcaster>();
    for (const [from, fn] of Object.entries(definition.upcasters ?? {})) {
      const n = Number(from);
      if (!Number.isInteger(n) || n < 1 || n >= version) {
        throw new RangeError(
          `Event type "${type}": upcaster from version ${from} is outside 1..${version - 1}`,
        );
      }
      upcasters.set(n, fn);
    }
    this.#types.set(type, { schema: definition.schema, version, upcasters });
    return this;
  }

  currentVersion(type: string): number {
    return this.#types.get(type)?.version ?? 1;
  }

  /** Validates `data` for `type` if it has a schema; returns the (possibly transformed) value. */
  async validate(
    type: string,
    data: unknown,
    at: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    const schema = this.#types.get(type)?.schema;
    if (!schema) return data;
    return validate(schema, data, { what: `data for event type "${type}"`, at });
  }

  hasSchema(type: string): boolean {
    return this.#types.get(type)?.schema !== undefined;
  }

  /** Brings `data` stored at `storedVersion` up to the current version, step by step. */
  upcast(
    type: string,
    data: unknown,
    storedVersion: number,
    metadata: Record<string, unknown>,
  ): { data: unknown; version: number } {
    const entry = this.#types.get(type);
    if (!entry || storedVersion >= entry.version) return { data, version: storedVersion };
    let current = data;
    for (let v = storedVersion; v < entry.version; v++) {
      const step = entry.upcasters.get(v);
      if (!step) {
        throw new UpcastError(
          `Event type "${type}" is stored at schema version ${v} but no upcaster from ${v} to ${v + 1} is registered.`,
        );
      }
      try {
        current = step(current, { type, metadata });
      } catch (cause) {
        throw new UpcastError(`Upcaster for "${type}" from version ${v} threw`, { cause });
      }
    }
    return { data: current, version: entry.version };
  }
}
