import { StateFencedError } from './errors.js';
import {
  tableWritesOf,
  validateTableSink,
  type ClaimRequest,
  type OutboxRow,
  type ScopeOwner,
  type SqlValue,
  type StateChanges,
  type StateRepository,
  type StoredKeyValue,
  type StoredState,
  type StoredWindow,
  type TableSinkSpec,
} from './state-repository.js';

interface Scope {
  owner: ScopeOwner;
  positions: Map<string, string>;
  keyValues: Map<string, StoredKeyValue>;
  windows: Map<string, StoredWindow>;
  streamTimes: Map<string, number>;
  outbox: Map<string, OutboxRow>;
}

/**
 * The reference `StateRepository`: everything in maps, shared by every backend opened on it,
 * so a "reopened" backend restores what an earlier one committed (as after a restart, in
 * one process). A write checks the fence and computes every table row before it changes
 * anything, so a failure leaves the committed state as it was — the atomicity SQL gets
 * from a transaction. Table sinks land in `tables` (table → key JSON → row).
 */
export class MemoryStateRepository implements StateRepository {
  readonly #scopes = new Map<string, Scope>();
  readonly #specs = new Map<string, TableSinkSpec>();
  readonly tables = new Map<string, Map<string, Record<string, SqlValue>>>();
  readonly tableSinks: ReadonlySet<string>;

  constructor(options: { tables?: readonly TableSinkSpec[] } = {}) {
    for (const spec of options.tables ?? []) {
      validateTableSink(spec);
      this.#specs.set(spec.sink, spec);
    }
    this.tableSinks = new Set(this.#specs.keys());
  }

  claim(request: ClaimRequest): Promise<number | undefined> {
    const scope = this.#scope(request.scope);
    const held = scope.owner.owner !== undefined && (scope.owner.leaseUntil ?? 0) > request.now;
    if (held && !request.takeOver && scope.owner.owner !== request.owner)
      return Promise.resolve(undefined);
    scope.owner = {
      scope: request.scope,
      owner: request.owner,
      generation: scope.owner.generation + 1,
      leaseUntil: request.leaseUntil,
    };
    return Promise.resolve(scope.owner.generation);
  }

  load(name: string): Promise<StoredState> {
    const scope = this.#scope(name);
    return Promise.resolve({
      positions: new Map(scope.positions),
      keyValues: [...scope.keyValues.values()],
      windows: [...scope.windows.values()],
      streamTimes: new Map(scope.streamTimes),
    });
  }

  write(
    name: string,
    generation: number,
    leaseUntil: number,
    changes: StateChanges,
  ): Promise<void> {
    return settled(() => this.#write(name, generation, leaseUntil, changes));
  }

  #write(name: string, generation: number, leaseUntil: number, changes: StateChanges): void {
    const scope = this.#fenced(name, generation);
    // Everything that can throw runs before the first change.
    const tableWrites = tableWritesOf(this.#specs, changes.tableRows);
    for (const row of changes.keyValues) {
      const id = `${row.store}\u0000${row.keyId}`;
      if (row.value === undefined) scope.keyValues.delete(id);
      else scope.keyValues.set(id, { ...row, value: row.value });
    }
    for (const row of changes.windows) {
      const id = `${row.store}\u0000${row.keyId}\u0000${row.start}\u0000${row.end}`;
      if (row.value === undefined) scope.windows.delete(id);
      else scope.windows.set(id, { ...row, value: row.value });
    }
    for (const [store, time] of changes.streamTimes) scope.streamTimes.set(store, time);
    for (const [source, position] of changes.positions) scope.positions.set(source, position);
    for (const row of changes.outbox) scope.outbox.set(row.id, row);
    for (const { spec, write } of tableWrites) {
      let table = this.tables.get(spec.table);
      if (!table) this.tables.set(spec.table, (table = new Map()));
      const values = write.kind === 'upsert' ? write.row : write.key;
      const id = JSON.stringify(spec.key.map((column) => values[column]));
      if (write.kind === 'upsert') table.set(id, { ...write.row });
      else table.delete(id);
    }
    scope.owner.leaseUntil = leaseUntil;
  }

  renew(name: string, generation: number, leaseUntil: number): Promise<void> {
    return settled(() => {
      this.#fenced(name, generation).owner.leaseUntil = leaseUntil;
    });
  }

  release(name: string, generation: number): Promise<void> {
    const scope = this.#scope(name);
    if (scope.owner.generation === generation) {
      scope.owner = { ...scope.owner, owner: undefined, leaseUntil: undefined };
    }
    return Promise.resolve();
  }

  undelivered(name: string): Promise<OutboxRow[]> {
    return Promise.resolve([...this.#scope(name).outbox.values()]);
  }

  acknowledge(name: string, ids: readonly string[]): Promise<void> {
    const outbox = this.#scope(name).outbox;
    for (const id of ids) outbox.delete(id);
    return Promise.resolve();
  }

  owners(prefix: string): Promise<ScopeOwner[]> {
    const owners: ScopeOwner[] = [];
    for (const [name, scope] of this.#scopes)
      if (name.startsWith(prefix)) owners.push({ ...scope.owner });
    return Promise.resolve(owners);
  }

  /** Rows held for a scope (entries, windows, outbox): tests prove expired state leaves. */
  rowCount(name: string): { keyValues: number; windows: number; outbox: number } {
    const scope = this.#scope(name);
    return {
      keyValues: scope.keyValues.size,
      windows: scope.windows.size,
      outbox: scope.outbox.size,
    };
  }

  #fenced(name: string, generation: number): Scope {
    const scope = this.#scope(name);
    if (scope.owner.generation !== generation) throw new StateFencedError(name, generation);
    return scope;
  }

  #scope(name: string): Scope {
    let scope = this.#scopes.get(name);
    if (!scope) {
      scope = {
        owner: { scope: name, owner: undefined, generation: 0, leaseUntil: undefined },
        positions: new Map(),
        keyValues: new Map(),
        windows: new Map(),
        streamTimes: new Map(),
        outbox: new Map(),
      };
      this.#scopes.set(name, scope);
    }
    return scope;
  }
}

/** Runs synchronous work as a promise, so failures reject like a database's would. */
function settled(work: () => void): Promise<void> {
  try {
    work();
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error as Error);
  }
}
