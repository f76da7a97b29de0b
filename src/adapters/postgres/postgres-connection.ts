import pg from 'pg';
import type { ClientConfig, Pool, PoolClient, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { isCausewayError, StoreUnavailableError } from '../../core/errors.js';

export interface PostgresConnectionOptions {
  /** `postgres://user:password@host:port/database`. Ignored when `pool` is given. */
  connectionString?: string;
  /**
   * A pool to use instead of opening one, e.g. the one your read models use, so inline
   * projections can write in the same transaction. The store never ends it.
   */
  pool?: Pool;
  /** The PostgreSQL schema holding Causeway's tables; created if missing. Default `public`. */
  schema?: string;
}

/** A pool plus what the stores need to know about it. */
export interface PostgresConnection {
  readonly pool: Pool;
  /** Whether we created the pool, and so must end it. */
  readonly ownsPool: boolean;
  /** The server, user and database, without the password. */
  readonly address: string;
  /** Settings for a dedicated connection outside the pool (LISTEN). */
  readonly clientConfig: ClientConfig;
}

export function openConnection(options: PostgresConnectionOptions): PostgresConnection {
  if (options.pool) {
    const config = options.pool.options;
    return {
      pool: options.pool,
      ownsPool: false,
      address: addressOf(config),
      clientConfig: config,
    };
  }
  const config: ClientConfig =
    options.connectionString === undefined ? {} : { connectionString: options.connectionString };
  const pool = new pg.Pool(config);
  // An idle connection that breaks (server restart) emits 'error' on the pool; without a
  // listener Node would crash the process. The next query simply opens a new connection.
  pool.on('error', () => undefined);
  return { pool, ownsPool: true, address: addressOf(config), clientConfig: config };
}

/** A URL naming the server, user and database, never the password. */
export function addressOf(config: ClientConfig): string {
  if (config.connectionString !== undefined) return redactUrl(config.connectionString);
  const env = process.env;
  const user = config.user ?? env['PGUSER'];
  const host = config.host ?? env['PGHOST'] ?? 'localhost';
  const port = config.port ?? env['PGPORT'] ?? 5432;
  const database = config.database ?? env['PGDATABASE'] ?? user ?? '';
  return `postgres://${user === undefined ? '' : `${user}@`}${host}:${port}/${database}`;
}

function redactUrl(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    url.password = '';
    url.searchParams.delete('password');
    url.searchParams.delete('sslkey');
    return url.toString();
  } catch {
    // Not a URL (a libpq "key=value" string): say what kind of thing it is, nothing more.
    return 'postgres (key=value connection string)';
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/**
 * SQLSTATEs that mean "cannot talk to this server as this user": connection exceptions
 * (class 08), authorization failures (28), unknown database, shutdown, too many connections.
 */
function isUnavailableState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code.startsWith('28') ||
    code === '3D000' ||
    code === '53300' ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03'
  );
}

/** Whether `error` says the server is unreachable or refused us (not a bad statement). */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || isUnavailableState(code))) {
    return true;
  }
  // pg reports a dropped socket and a pool connect timeout without a code.
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    error.message,
  );
}

/** Turns driver errors about the connection into `StoreUnavailableError`; others pass through. */
export function toStoreError(error: unknown, address: string): unknown {
  if (isCausewayError(error)) return error;
  return isUnavailable(error) ? new StoreUnavailableError(address, { cause: error }) : error;
}

/** The SQLSTATE of a database error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/**
 * `pool.query` without its habit of closing the connection after every failed statement:
 * an expected error (a version conflict, a duplicate id) would otherwise cost a reconnect
 * and re-preparing every statement. After an error the server reports, the session is idle
 * and healthy (our functions release their session locks on error), so it goes back to the
 * pool; after anything else (network, FATAL) it is discarded.
 */
export async function runQuery<R extends QueryResultRow>(
  pool: Pool,
  config: QueryConfig,
): Promise<QueryResult<R>> {
  const client = await pool.connect();
  const guard = guardCheckedOut(client);
  let broken: Error | undefined;
  try {
    return await client.query<R>(config);
  } catch (error) {
    if (!isStatementError(error))
      broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    guard.detach();
    client.release(broken ?? guard.error());
  }
}

/**
 * A checked-out client has lost the pool's 'error' listener: a session the server ends (a
 * restart, `pg_terminate_backend`) would then crash the process with an unhandled 'error'.
 * This listener records it instead (the running query fails with it anyway), so the
 * connection is discarded on release. Returns the detach function and the error, if any.
 */
export function guardCheckedOut(client: PoolClient): {
  detach(): void;
  error(): Error | undefined;
} {
  let broken: Error | undefined;
  const onError = (error: Error) => (broken = error);
  client.on('error', onError);
  return { detach: () => client.off('error', onError), error: () => broken };
}

function isStatementError(error: unknown): boolean {
  return (
    error instanceof pg.DatabaseError &&
    error.severity !== 'FATAL' &&
    error.severity !== 'PANIC' &&
    !isUnavailable(error)
  );
}

/**
 * Runs `work` in one transaction on a checked-out client: COMMIT on success, ROLLBACK on any
 * error. A client whose ROLLBACK fails (the connection is gone) is destroyed, never reused.
 * `opening`, a statement without parameters (taking an advisory lock), is sent with BEGIN as
 * one simple query: one round trip fewer on every such transaction, which is what a short
 * transaction's latency is made of.
 */
export async function withTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
  opening?: string,
): Promise<T> {
  const client = await pool.connect();
  const guard = guardCheckedOut(client);
  let broken: Error | undefined;
  try {
    await client.query(opening === undefined ? 'BEGIN' : `BEGIN; ${opening}`);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((e: unknown) => {
      broken = e instanceof Error ? e : new Error(String(e));
    });
    throw error;
  } finally {
    guard.detach();
    client.release(broken ?? guard.error());
  }
}
