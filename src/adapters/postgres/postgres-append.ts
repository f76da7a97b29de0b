import type { ClientBase, Pool, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { systemClock, type Clock } from '../../core/clock.js';
import { ConcurrencyError, DuplicateEventIdError } from '../../core/errors.js';
import { prepareEvents, type PreparedEvent } from '../../event-store/event-codec.js';
import { EventRegistry } from '../../event-store/event-registry.js';
import {
  assertValidExpectedVersion,
  checkExpectedVersion,
  type StreamHead,
} from '../../event-store/expected-version.js';
import {
  assertValidStreamId,
  DEFAULT_LIMITS,
  type EventStoreLimits,
} from '../../event-store/limits.js';
import type {
  AppendResult,
  ExpectedVersion,
  NewEvent,
  StreamState,
} from '../../event-store/types.js';
import { sqlState } from './postgres-connection.js';
import { schemaIdentity, type SchemaIdentity } from './postgres-identity.js';

/** Something that runs queries: a pool, a pooled client or a plain client. */
export type Queryable = Pick<Pool | ClientBase, 'query'>;

/** Runs one statement; lets the driver choose how connections are checked out. */
export type RunQuery = <R extends QueryResultRow>(config: QueryConfig) => Promise<QueryResult<R>>;

/** `{next version, first position}`; int8 arrive as strings, the position null if nothing was written. */
type AppendRow = { r: [string, string | null] };

/**
 * Runs `causeway_append` through `query`: one round trip. With `notify` the function queues a
 * NOTIFY that PostgreSQL sends when the surrounding transaction commits.
 */
export async function runAppend(
  query: RunQuery,
  identity: SchemaIdentity,
  streamId: string,
  events: readonly PreparedEvent[],
  expected: ExpectedVersion,
  now: Date,
  notify: boolean,
): Promise<AppendResult> {
  const n = events.length;
  const ids = new Array<string>(n);
  const types = new Array<string>(n);
  const sources = new Array<string>(n);
  const subjects = new Array<string>(n);
  const times = new Array<Date>(n);
  const contentTypes = new Array<string>(n);
  const data = new Array<string>(n);
  const metadata = new Array<string>(n);
  const schemaVersions = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const event = events[i]!;
    ids[i] = event.id;
    types[i] = event.type;
    sources[i] = event.source;
    subjects[i] = event.subject;
    times[i] = event.time;
    contentTypes[i] = event.datacontenttype;
    data[i] = event.data;
    metadata[i] = event.metadata;
    schemaVersions[i] = event.schemaVersion;
  }
  try {
    const { rows } = await query<AppendRow>({
      name: `${identity.statementPrefix}append`,
      text: `SELECT ${identity.quoted}.causeway_append(
               $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) AS r`,
      values: [
        streamId,
        String(expected),
        now,
        notify,
        ids,
        types,
        sources,
        subjects,
        times,
        contentTypes,
        data,
        metadata,
        schemaVersions,
      ],
    });
    const [next, firstPosition] = rows[0]!.r;
    const first = firstPosition === null ? 0 : Number(firstPosition);
    return {
      nextExpectedVersion: Number(next),
      positions: Array.from({ length: first === 0 ? 0 : n }, (_, i) => first + i),
    };
  } catch (error) {
    throw await appendError(error, query, identity, streamId, events, expected);
  }
}

/** Maps the append function's failures onto the kernel's errors. */
async function appendError(
  error: unknown,
  query: RunQuery,
  identity: SchemaIdentity,
  streamId: string,
  events: readonly PreparedEvent[],
  expected: ExpectedVersion,
): Promise<unknown> {
  const state = sqlState(error);
  if (state === 'CW001') return expectedVersionError(error, streamId, expected);
  if (state === '23505' && constraintOf(error) === 'causeway_events_id_key') {
    const id = /\(id\)=\((.*)\) already exists/.exec(detailOf(error) ?? '')?.[1];
    if (id !== undefined) return new DuplicateEventIdError(id, { cause: error });
    // The detail is hidden from roles that cannot read the table; find the id ourselves.
    const { rows } = await query<{ id: string }>({
      text: `SELECT id FROM ${identity.quoted}.causeway_events WHERE id = ANY ($1) LIMIT 1`,
      values: [events.map((e) => e.id)],
    }).catch(() => ({ rows: [] as { id: string }[] }));
    return new DuplicateEventIdError(rows[0]?.id ?? events[0]?.id ?? '', { cause: error });
  }
  return error;
}

/**
 * The database raised CW001 with the head it saw as "state:version". Replaying the kernel's
 * own check on that head yields exactly the error the in-memory store would throw.
 */
export function expectedVersionError(
  error: unknown,
  streamId: string,
  expected: ExpectedVersion,
): unknown {
  const [state, version] = (detailOf(error) ?? 'missing:0').split(':');
  const head: StreamHead | undefined =
    state === 'missing' ? undefined : { state: state as StreamState, version: Number(version) };
  try {
    checkExpectedVersion(streamId, expected, head);
  } catch (kernelError) {
    return kernelError;
  }
  // Unreachable while causeway_check_expected mirrors the kernel; fail safe regardless.
  return new ConcurrencyError(streamId, expected, Number(version));
}

function detailOf(error: unknown): string | undefined {
  const detail = (error as { detail?: unknown }).detail;
  return typeof detail === 'string' ? detail : undefined;
}

function constraintOf(error: unknown): string | undefined {
  const constraint = (error as { constraint?: unknown }).constraint;
  return typeof constraint === 'string' ? constraint : undefined;
}

export interface AppendInTransactionOptions {
  expectedVersion?: ExpectedVersion;
  /** The schema the store lives in. Default `public`. */
  schema?: string;
  registry?: EventRegistry;
  limits?: Partial<EventStoreLimits>;
  clock?: Clock;
  source?: string;
  /**
   * Queue a NOTIFY that wakes subscribers in every process when the transaction commits.
   * Default true. PostgreSQL serializes the commits of notifying transactions (one lock held
   * across the WAL flush), so at high rates of concurrent commits turn it off and let
   * subscribers find the events by polling.
   */
  notify?: boolean;
}

/**
 * Appends on a connection the caller controls, usually inside a transaction that also
 * updates a read model (inline projection) or an outbox. Nothing is visible to readers, and
 * the global high-water mark does not pass these events, until the caller commits; a
 * rollback discards them and leaves a harmless gap in the positions. Validation is the same
 * as `EventStore.appendToStream`.
 */
export async function appendInTransaction(
  client: Queryable,
  streamId: string,
  events: readonly NewEvent[],
  options: AppendInTransactionOptions = {},
): Promise<AppendResult> {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  assertValidStreamId(streamId, limits);
  const expected = options.expectedVersion ?? 'any';
  assertValidExpectedVersion(expected);
  const clock = options.clock ?? systemClock;
  const prepared = await prepareEvents(streamId, events, {
    registry: options.registry ?? new EventRegistry(),
    limits,
    clock,
    ...(options.source === undefined ? {} : { source: options.source }),
  });
  const identity = schemaIdentity(options.schema);
  return runAppend(
    (config) => client.query(config),
    identity,
    streamId,
    prepared,
    expected,
    clock.now(),
    options.notify ?? true,
  );
}
