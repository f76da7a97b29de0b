import { ValidationError } from '../core/errors.js';
import { MemoryTransaction } from '../event-store/memory-transaction.js';
import { OwnedTables } from './owned-tables.js';
import {
  LeaseLostError,
  type ProjectionDefinition,
  type ProjectionState,
  type ProjectionStore,
} from './projection.js';
import {
  physicalTableName,
  type FindOptions,
  type ReadModelSession,
  type Row,
  type Table,
  type TableDefinition,
} from './read-model.js';

type Rows = Map<unknown, Row>;

/**
 * The in-memory projection store: the reference the SQL stores are checked against. A batch
 * works on copies of the projection's tables and swaps them in only when it succeeds, so a
 * failing handler leaves no partial rows behind — the same atomicity a SQL transaction gives.
 */
export class MemoryProjectionStore implements ProjectionStore {
  readonly #tables = new Map<string, Rows>();
  readonly #states = new Map<string, ProjectionState>();
  /** Logical table name → physical name of the active version (the "view"). */
  readonly #views = new Map<string, string>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  async prepare(projection: ProjectionDefinition): Promise<ProjectionState> {
    for (const table of projection.tables) {
      const physical = physicalTableName(table, projection.version);
      if (!this.#tables.has(physical)) this.#tables.set(physical, new Map());
    }
    const key = stateKey(projection.name, projection.version);
    let state = this.#states.get(key);
    if (!state) {
      const first = ![...this.#states.values()].some((s) => s.name === projection.name);
      state = {
        name: projection.name,
        version: projection.version,
        status: first ? 'active' : 'building',
        paused: false,
        position: 0,
        leaseOwner: undefined,
        leaseExpiresAt: undefined,
        error: undefined,
        updatedAt: this.now(),
      };
      this.#states.set(key, state);
      if (first) this.#point(projection);
    }
    return { ...state };
  }

  async get(name: string, version: number): Promise<ProjectionState | undefined> {
    const state = this.#states.get(stateKey(name, version));
    return state ? { ...state } : undefined;
  }

  async list(): Promise<ProjectionState[]> {
    return [...this.#states.values()]
      .map((s) => ({ ...s }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  }

  async acquireLease(
    name: string,
    version: number,
    owner: string,
    ttlMs: number,
  ): Promise<boolean> {
    const state = this.#require(name, version);
    const now = this.now();
    const free =
      !state.leaseOwner ||
      !state.leaseExpiresAt ||
      state.leaseExpiresAt <= now ||
      state.leaseOwner === owner;
    if (!free) return false;
    state.leaseOwner = owner;
    state.leaseExpiresAt = new Date(now.getTime() + ttlMs);
    return true;
  }

  async releaseLease(name: string, version: number, owner: string): Promise<void> {
    const state = this.#states.get(stateKey(name, version));
    if (state?.leaseOwner === owner) {
      state.leaseOwner = undefined;
      state.leaseExpiresAt = undefined;
    }
  }

  async applyBatch(
    projection: ProjectionDefinition,
    owner: string,
    fromPosition: number,
    toPosition: number,
    work: (session: ReadModelSession) => Promise<void>,
  ): Promise<void> {
    const state = this.#require(projection.name, projection.version);
    const held =
      state.leaseOwner === owner &&
      state.leaseExpiresAt !== undefined &&
      state.leaseExpiresAt > this.now();
    if (!held || state.position !== fromPosition) throw new LeaseLostError(projection.name, owner);
    await this.#transaction(projection, work);
    state.position = toPosition;
    state.updatedAt = this.now();
  }

  async setPaused(name: string, version: number, paused: boolean): Promise<void> {
    const state = this.#require(name, version);
    state.paused = paused;
    state.updatedAt = this.now();
  }

  async setError(name: string, version: number, error: string | undefined): Promise<void> {
    const state = this.#require(name, version);
    state.error = error;
    state.updatedAt = this.now();
  }

  async reset(projection: ProjectionDefinition): Promise<void> {
    for (const table of projection.tables)
      this.#tables.set(physicalTableName(table, projection.version), new Map());
    this.#require(projection.name, projection.version).position = 0;
  }

  async activate(projection: ProjectionDefinition): Promise<void> {
    for (const state of this.#states.values()) {
      if (state.name !== projection.name) continue;
      if (state.version === projection.version) state.status = 'active';
      else if (state.status !== 'retired') state.status = 'retired';
    }
    this.#point(projection);
  }

  async drop(name: string, version: number, tables: readonly TableDefinition[]): Promise<void> {
    for (const table of tables) this.#tables.delete(physicalTableName(table, version));
    this.#states.delete(stateKey(name, version));
  }

  reader(): ReadModelSession {
    return {
      sql: undefined,
      table: <R extends Row>(definition: TableDefinition<R>) => {
        const physical = this.#views.get(definition.name);
        if (!physical)
          throw new ValidationError('Unknown read model', [
            { path: ['table'], message: `no active projection owns "${definition.name}"` },
          ]);
        return new MemoryTable<R>(definition, () => this.#tables.get(physical)!);
      },
    };
  }

  /**
   * Inline handlers write to staged copies that the memory event store swaps in only when the
   * append commits (see `MemoryTransaction`).
   */
  inlineSession(transaction: unknown, projection: ProjectionDefinition): ReadModelSession {
    if (!(transaction instanceof MemoryTransaction)) {
      throw new ValidationError('Wrong store', [
        {
          path: ['inline'],
          message: 'the memory projection store only works with the memory event store',
        },
      ]);
    }
    const staged = this.#stage(projection);
    transaction.onCommit(() => this.#commit(staged));
    return this.#session(projection, staged);
  }

  /** Stages changes on copies and swaps them in only if `work` succeeds. */
  async #transaction(
    projection: ProjectionDefinition,
    work: (session: ReadModelSession) => Promise<void>,
  ): Promise<void> {
    const staged = this.#stage(projection);
    await work(this.#session(projection, staged));
    this.#commit(staged);
  }

  #stage(projection: ProjectionDefinition): Map<string, Rows> {
    const staged = new Map<string, Rows>();
    for (const table of projection.tables) {
      const physical = physicalTableName(table, projection.version);
      staged.set(physical, new Map(this.#tables.get(physical)));
    }
    return staged;
  }

  #commit(staged: Map<string, Rows>): void {
    for (const [physical, rows] of staged) this.#tables.set(physical, rows);
  }

  #session(projection: ProjectionDefinition, tables: Map<string, Rows>): ReadModelSession {
    const owned = new OwnedTables(
      projection,
      (definition, physical) => new MemoryTable<Row>(definition, () => tables.get(physical)!),
    );
    return {
      sql: undefined,
      table: <R extends Row>(definition: TableDefinition<R>) =>
        owned.get(definition as TableDefinition) as unknown as Table<R>,
    };
  }

  #point(projection: ProjectionDefinition): void {
    for (const table of projection.tables)
      this.#views.set(table.name, physicalTableName(table, projection.version));
  }

  #require(name: string, version: number): ProjectionState {
    const state = this.#states.get(stateKey(name, version));
    if (!state)
      throw new ValidationError('Unknown projection', [
        { path: ['projection'], message: `${name} v${version} was never prepared` },
      ]);
    return state;
  }
}

function stateKey(name: string, version: number): string {
  return `${name}@${version}`;
}

class MemoryTable<R extends Row> implements Table<R> {
  constructor(
    private readonly definition: TableDefinition<R>,
    private readonly rows: () => Rows,
  ) {}

  async upsert(row: R): Promise<void> {
    this.rows().set(row[this.definition.primaryKey], structuredClone(row));
  }

  async patch(key: R[keyof R & string], changes: Partial<R>): Promise<boolean> {
    const existing = this.rows().get(key);
    if (!existing) return false;
    this.rows().set(key, { ...existing, ...structuredClone(changes) });
    return true;
  }

  async delete(key: R[keyof R & string]): Promise<boolean> {
    return this.rows().delete(key);
  }

  async findById(key: R[keyof R & string]): Promise<R | undefined> {
    const row = this.rows().get(key);
    return row ? (structuredClone(row) as R) : undefined;
  }

  async find(options: FindOptions<R> = {}): Promise<R[]> {
    let rows = [...this.rows().values()].filter((row) => matches(row, options.where)) as R[];
    if (options.orderBy) {
      const column = options.orderBy;
      const direction = options.order === 'desc' ? -1 : 1;
      rows = rows.sort((a, b) => compare(a[column], b[column]) * direction);
    }
    const offset = options.offset ?? 0;
    rows = rows.slice(offset, options.limit === undefined ? undefined : offset + options.limit);
    return rows.map((row) => structuredClone(row));
  }

  async count(where?: Partial<R>): Promise<number> {
    return [...this.rows().values()].filter((row) => matches(row, where)).length;
  }
}

function matches(row: Row, where: Row | undefined): boolean {
  if (!where) return true;
  return Object.entries(where).every(([column, value]) => {
    const actual = row[column];
    return actual instanceof Date && value instanceof Date
      ? actual.getTime() === value.getTime()
      : actual === value;
  });
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  return (a as number | string) < (b as number | string) ? -1 : 1;
}
