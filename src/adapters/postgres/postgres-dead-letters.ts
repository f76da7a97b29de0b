import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { StoreClosedError } from '../../core/errors.js';
import type { DeadLetter, DeadLetterQuery, DeadLetterStore } from '../../messaging/dead-letters.js';
import { HEADER_PREFIX, parseFailure } from '../sql/queue-consumer.js';
import { runQuery, toStoreError, withTransaction } from './postgres-connection.js';
import { schemaIdentity } from './postgres-identity.js';
import type { DeadLetterRecord } from './postgres-transport-sql.js';

export interface PostgresDeadLetterStoreOptions {
  /** The schema holding the transport's tables. Default `public`. */
  schema?: string;
  /** Shown in connection errors (host:port/database). */
  address?: string;
  /** Told after a retry commits, e.g. to wake consumers. */
  onRetried?: (destination: string) => void;
}

type Filter = Omit<DeadLetterQuery, 'after' | 'limit'>;

const COLUMNS = 'id, message_id, destination, group_name, headers, body, failure, created_at';

interface LetterRecord extends DeadLetterRecord {
  message_id: string | null;
}

/** `WHERE` text and parameters; the error filter matches like `matchesQuery`. */
function where(query: Filter & { after?: string; olderThan?: Date }): [string, unknown[]] {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (n: string) => string, value: unknown) => {
    params.push(value);
    clauses.push(clause(`$${params.length}`));
  };
  if (query.destination !== undefined) add((n) => `destination = ${n}::text`, query.destination);
  if (query.since !== undefined) add((n) => `created_at >= ${n}::timestamptz`, query.since);
  if (query.olderThan !== undefined) add((n) => `created_at < ${n}::timestamptz`, query.olderThan);
  if (query.error !== undefined)
    add(
      (n) =>
        `strpos(lower((failure->>'errorClass') || ' ' || (failure->>'errorMessage')), lower(${n}::text)) > 0`,
      query.error,
    );
  if (query.after !== undefined)
    add((n) => `id > ${n}::bigint`, toRowId(query.after) ?? '9223372036854775807');
  return [clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`, params];
}

function toRowId(id: string): string | undefined {
  return /^\d{1,18}$/.test(id) ? id : undefined;
}

function toLetter(row: LetterRecord): DeadLetter {
  return {
    id: String(row.id),
    messageId: row.message_id ?? undefined,
    destination: row.destination,
    group: row.group_name,
    message: { headers: row.headers, body: row.body },
    failure: parseFailure(row.failure),
    deadLetteredAt: row.created_at,
  };
}

/**
 * The dead letters of the PostgreSQL transport (`causeway_dead_letters`), for
 * `DeadLetterManager` and `causeway dlq`. `retry` puts the message back for its group only,
 * as a first delivery with its original id, and removes the letter — in one transaction.
 * The pool is the caller's: `close` is theirs too.
 */
export class PostgresDeadLetterStore implements DeadLetterStore {
  readonly #table: string;
  readonly #messages: string;
  readonly #deliveries: string;
  readonly #address: string;
  readonly #onRetried: ((destination: string) => void) | undefined;
  #closed = false;

  constructor(
    readonly pool: Pool,
    options: PostgresDeadLetterStoreOptions = {},
  ) {
    const s = schemaIdentity(options.schema).quoted;
    this.#table = `${s}.causeway_dead_letters`;
    this.#messages = `${s}.causeway_messages`;
    this.#deliveries = `${s}.causeway_deliveries`;
    this.#address = options.address ?? 'postgres';
    this.#onRetried = options.onRetried;
  }

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const [text, params] = where(query);
    const limit = query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`;
    const { rows } = await this.#query<LetterRecord>(
      `SELECT ${COLUMNS} FROM ${this.#table} ${text} ORDER BY id${limit}`,
      params,
    );
    return rows.map(toLetter);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const rowId = toRowId(id);
    if (rowId === undefined) return undefined;
    const { rows } = await this.#query<LetterRecord>(
      `SELECT ${COLUMNS} FROM ${this.#table} WHERE id = $1::bigint`,
      [rowId],
    );
    return rows[0] === undefined ? undefined : toLetter(rows[0]);
  }

  async count(query: Filter = {}): Promise<number> {
    const [text, params] = where(query);
    const { rows } = await this.#query<{ n: string }>(
      `SELECT count(*) AS n FROM ${this.#table} ${text}`,
      params,
    );
    return Number(rows[0]?.n ?? 0);
  }

  async retry(id: string): Promise<boolean> {
    const rowId = toRowId(id);
    if (rowId === undefined) return false;
    const destination = await this.#transaction(async (client) => {
      const {
        rows: [letter],
      } = await client.query<LetterRecord>(
        `DELETE FROM ${this.#table} WHERE id = $1::bigint RETURNING ${COLUMNS}`,
        [rowId],
      );
      if (letter === undefined) return undefined;
      const key = letter.headers[`${HEADER_PREFIX}partitionkey`] ?? null;
      // The message is still in the destination's log: deliver that row again, so a group
      // created later does not see it twice. Only if the log lost it is it logged anew.
      const logged = await client.query<{ position: string }>(
        `SELECT position FROM ${this.#messages}
         WHERE destination = $1::text AND id IS NOT DISTINCT FROM $2::text AND body = $3::text
         ORDER BY position DESC LIMIT 1`,
        [letter.destination, letter.message_id, letter.body],
      );
      const position =
        logged.rows[0]?.position ??
        (
          await client.query<{ position: string }>(
            `INSERT INTO ${this.#messages} (destination, id, headers, body, partition_key)
             VALUES ($1::text, $2::text, $3::json, $4::text, $5::text) RETURNING position`,
            [
              letter.destination,
              letter.message_id,
              JSON.stringify(letter.headers),
              letter.body,
              key,
            ],
          )
        ).rows[0]!.position;
      await client.query(
        `INSERT INTO ${this.#deliveries} (destination, group_name, position, partition_key)
         VALUES ($1::text, $2::text, $3::bigint, $4::text) ON CONFLICT DO NOTHING`,
        [letter.destination, letter.group_name, position, key],
      );
      return letter.destination;
    });
    if (destination === undefined) return false;
    this.#onRetried?.(destination);
    return true;
  }

  async purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    const [text, params] = where(query);
    const result = await this.#query(`DELETE FROM ${this.#table} ${text}`, params);
    return result.rowCount ?? 0;
  }

  /** Stops accepting calls (the pool stays open: it is the caller's). */
  close(): void {
    this.#closed = true;
  }

  async #query<R extends QueryResultRow>(text: string, values: unknown[]) {
    return this.#run(() => runQuery<R>(this.pool, { text, values }));
  }

  #transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.#run(() => withTransaction(this.pool, work));
  }

  async #run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError();
    try {
      return await work();
    } catch (error) {
      throw toStoreError(error, this.#address);
    }
  }
}
