import type { PoolClient } from 'pg';
import { StateFencedError } from '../../streams/errors.js';
import {
  tableWritesOf,
  validateTableSink,
  type ClaimRequest,
  type OutboxRow,
  type ScopeOwner,
  type StateChanges,
  type StateRepository,
  type StoredState,
  type TableSinkSpec,
} from '../../streams/state-repository.js';
import {
  scopeOwnerOf,
  storedStateOf,
  type EntryRow,
  type ScopeRow,
  type WindowRow,
} from '../sql/stream-state-rows.js';
import { tableWriteSql } from '../sql/table-sink-sql.js';
import { streamStateStatements } from './postgres-stream-state-sql.js';
import { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';

export interface PostgresStateRepositoryOptions extends PostgresStoreOptions {
  /**
   * Read-model tables written in the commit transaction (create them yourself, with a unique
   * index on the key columns; name them `schema.table` if they live outside the search path).
   */
  tables?: readonly TableSinkSpec[];
}

/** Opens a state repository, creating or checking the schema first. */
export async function createPostgresStateRepository(
  options: PostgresStateRepositoryOptions = {},
): Promise<PostgresStateRepository> {
  return openPostgresStore(new PostgresStateRepository(options), options);
}

/**
 * Stream processing state in PostgreSQL (see `DurableStateBackend`). A commit is one
 * transaction of a constant number of statements — each kind of change travels as arrays
 * through `unnest` — that first updates the scope's row where the generation is still the
 * writer's: a process that lost its scope writes nothing, and the row lock orders commits
 * against a concurrent claim. Leases are timed by the callers' clocks (epoch ms).
 *
 * ```ts
 * const repository = await createPostgresStateRepository({ connectionString, tables: [revenue] });
 * const backend = await DurableStateBackend.open({ repository, scope: 'revenue' });
 * ```
 */
export class PostgresStateRepository extends PostgresStore implements StateRepository {
  readonly tableSinks: ReadonlySet<string>;
  readonly #sql = streamStateStatements(this.identity);
  readonly #specs = new Map<string, TableSinkSpec>();

  constructor(options: Omit<PostgresStateRepositoryOptions, 'migrate'> = {}) {
    super(options);
    for (const spec of options.tables ?? []) {
      validateTableSink(spec);
      this.#specs.set(spec.sink, spec);
    }
    this.tableSinks = new Set(this.#specs.keys());
  }

  async claim(request: ClaimRequest): Promise<number | undefined> {
    const { rows } = await this.query<{ generation: string }>('stream_claim', this.#sql.claim, [
      request.scope,
      request.owner,
      request.leaseUntil,
      request.now,
      request.takeOver,
    ]);
    return rows[0] === undefined ? undefined : Number(rows[0].generation);
  }

  async load(scope: string): Promise<StoredState> {
    const [positions, times, entries, windows] = await Promise.all([
      this.query<{ source: string; position: string }>('stream_positions', this.#sql.positions, [
        scope,
      ]),
      this.query<{ store: string; stream_time: number }>('stream_times', this.#sql.times, [scope]),
      this.query<Row<EntryRow>>('stream_entries', this.#sql.entries, [scope]),
      this.query<Row<WindowRow>>('stream_windows', this.#sql.windows, [scope]),
    ]);
    return storedStateOf({
      positions: positions.rows,
      times: times.rows,
      entries: entries.rows,
      windows: windows.rows,
    });
  }

  write(
    scope: string,
    generation: number,
    leaseUntil: number,
    changes: StateChanges,
  ): Promise<void> {
    return this.transaction(async (client) => {
      const run = (name: string, text: string, values: unknown[]) =>
        client.query({ name: `${this.identity.statementPrefix}${name}`, text, values });
      const fenced = await run('stream_fence', this.#sql.fence, [scope, generation, leaseUntil]);
      if (fenced.rowCount === 0) throw new StateFencedError(scope, generation);
      await this.#writeEntries(run, scope, changes);
      if (changes.streamTimes.size > 0) {
        await run('stream_put_times', this.#sql.putTimes, [
          scope,
          [...changes.streamTimes.keys()],
          [...changes.streamTimes.values()],
        ]);
      }
      if (changes.positions.size > 0) {
        await run('stream_put_positions', this.#sql.putPositions, [
          scope,
          [...changes.positions.keys()],
          [...changes.positions.values()],
        ]);
      }
      if (changes.outbox.length > 0) {
        await run('stream_put_outbox', this.#sql.putOutbox, [
          scope,
          changes.outbox.map((row) => row.id),
          changes.outbox.map((row) => row.sink),
          changes.outbox.map((row) => row.record),
        ]);
      }
      await this.#writeTables(client, changes);
    });
  }

  async renew(scope: string, generation: number, leaseUntil: number): Promise<void> {
    const result = await this.query('stream_fence', this.#sql.fence, [
      scope,
      generation,
      leaseUntil,
    ]);
    if (result.rowCount === 0) throw new StateFencedError(scope, generation);
  }

  async release(scope: string, generation: number): Promise<void> {
    await this.query('stream_release', this.#sql.release, [scope, generation]);
  }

  async undelivered(scope: string): Promise<OutboxRow[]> {
    return (
      await this.query<OutboxRow & { [column: string]: unknown }>(
        'stream_outbox',
        this.#sql.outbox,
        [scope],
      )
    ).rows;
  }

  async acknowledge(scope: string, ids: readonly string[]): Promise<void> {
    await this.query('stream_delete_outbox', this.#sql.deleteOutbox, [scope, ids]);
  }

  async owners(prefix: string): Promise<ScopeOwner[]> {
    const { rows } = await this.query<Row<ScopeRow>>('stream_owners', this.#sql.owners, [prefix]);
    return rows.map(scopeOwnerOf);
  }

  async #writeEntries(
    run: (name: string, text: string, values: unknown[]) => Promise<unknown>,
    scope: string,
    changes: StateChanges,
  ): Promise<void> {
    const put = changes.keyValues.filter((row) => row.value !== undefined);
    const gone = changes.keyValues.filter((row) => row.value === undefined);
    if (put.length > 0) {
      await run('stream_put_entries', this.#sql.putEntries, [
        scope,
        put.map((row) => row.store),
        put.map((row) => row.keyId),
        put.map((row) => row.key),
        put.map((row) => row.value),
      ]);
    }
    if (gone.length > 0) {
      await run('stream_delete_entries', this.#sql.deleteEntries, [
        scope,
        gone.map((row) => row.store),
        gone.map((row) => row.keyId),
      ]);
    }
    const windows = changes.windows.filter((row) => row.value !== undefined);
    const expired = changes.windows.filter((row) => row.value === undefined);
    if (windows.length > 0) {
      await run('stream_put_windows', this.#sql.putWindows, [
        scope,
        windows.map((row) => row.store),
        windows.map((row) => row.keyId),
        windows.map((row) => row.start),
        windows.map((row) => row.end),
        windows.map((row) => row.key),
        windows.map((row) => row.value),
      ]);
    }
    if (expired.length > 0) {
      await run('stream_delete_windows', this.#sql.deleteWindows, [
        scope,
        expired.map((row) => row.store),
        expired.map((row) => row.keyId),
        expired.map((row) => row.start),
        expired.map((row) => row.end),
      ]);
    }
  }

  async #writeTables(client: PoolClient, changes: StateChanges): Promise<void> {
    for (const { spec, write } of tableWritesOf(this.#specs, changes.tableRows)) {
      const statement = tableWriteSql(spec, write, (i) => `$${i}`);
      await client.query(statement.text, statement.values);
    }
  }
}

/** pg's row type wants an index signature. */
type Row<T> = T & { [column: string]: unknown };
