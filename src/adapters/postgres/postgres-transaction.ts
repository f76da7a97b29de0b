import type { ClientBase } from 'pg';

const BRAND = Symbol.for('causeway.postgres.transaction');

/**
 * The transaction handle the PostgreSQL event store passes to `inTransaction` hooks (inline
 * projections): the connection the append's open transaction runs on, and the schema the
 * events went to. `PostgresProjectionStore.inlineSession` writes read models through it, so
 * events and rows commit together. It is only good until that transaction ends.
 */
export class PostgresTransaction {
  readonly [BRAND] = true;
  #open = true;

  constructor(
    readonly client: ClientBase,
    readonly schema: string,
  ) {}

  get open(): boolean {
    return this.#open;
  }

  /** Called by whoever committed or rolled back; statements through the handle fail after. */
  end(): void {
    this.#open = false;
  }
}

/** A brand rather than `instanceof`, so two loaded copies of the package still agree. */
export function isPostgresTransaction(value: unknown): value is PostgresTransaction {
  return (
    typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true
  );
}
