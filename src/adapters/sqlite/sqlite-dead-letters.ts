import { StoreClosedError } from '../../core/errors.js';
import type { DeadLetter, DeadLetterQuery, DeadLetterStore } from '../../messaging/dead-letters.js';
import { HEADER_PREFIX, parseFailure } from '../sql/queue-consumer.js';
import { addressOf, toStoreError, type SqliteDatabase } from './sqlite-schema.js';
import { gateFor, type SqliteFileGate } from './sqlite-transaction.js';

interface RawLetter {
  id: number;
  messageId: string | null;
  destination: string;
  group: string;
  headers: string;
  body: string;
  failure: string;
  createdAt: number;
}

type Filter = Omit<DeadLetterQuery, 'after' | 'limit'>;

const COLUMNS = `id, message_id AS messageId, destination, group_name AS "group", headers, body,
  failure, created_at AS createdAt`;

/** `WHERE` text and parameters for a query; the error filter matches like `matchesQuery`. */
function where(query: Filter & { after?: string; olderThan?: Date }): [string, unknown[]] {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (query.destination !== undefined) {
    clauses.push('destination = ?');
    params.push(query.destination);
  }
  if (query.since !== undefined) {
    clauses.push('created_at >= ?');
    params.push(query.since.getTime());
  }
  if (query.olderThan !== undefined) {
    clauses.push('created_at < ?');
    params.push(query.olderThan.getTime());
  }
  if (query.error !== undefined) {
    clauses.push(
      `instr(lower(json_extract(failure, '$.errorClass') || ' ' || json_extract(failure, '$.errorMessage')), lower(?)) > 0`,
    );
    params.push(query.error);
  }
  if (query.after !== undefined) {
    clauses.push('id > ?');
    params.push(toRowId(query.after) ?? Number.MAX_SAFE_INTEGER);
  }
  return [clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`, params];
}

function toRowId(id: string): number | undefined {
  return /^\d{1,15}$/.test(id) ? Number(id) : undefined;
}

function toLetter(row: RawLetter): DeadLetter {
  return {
    id: String(row.id),
    messageId: row.messageId ?? undefined,
    destination: row.destination,
    group: row.group,
    message: { headers: JSON.parse(row.headers) as Record<string, string>, body: row.body },
    failure: parseFailure(row.failure),
    deadLetteredAt: new Date(row.createdAt),
  };
}

/**
 * The dead letters of the SQLite transport (`causeway_dead_letters`), for `DeadLetterManager`
 * and `causeway dlq`. `retry` puts the message back for its group only, as a first delivery
 * with its original id, and removes the letter — in one transaction.
 */
export class SqliteDeadLetterStore implements DeadLetterStore {
  readonly #gate: SqliteFileGate;

  /**
   * @param database a connection to a file whose transport tables exist (the transport's own).
   * @param onRetried told after a retry commits, e.g. to wake this process's consumers.
   */
  constructor(
    readonly database: SqliteDatabase,
    private readonly onRetried?: (destination: string) => void,
  ) {
    this.#gate = gateFor(database);
  }

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    const [text, params] = where(query);
    const limit = query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`;
    const rows = await this.#read(() =>
      this.database
        .prepare<unknown[], RawLetter>(
          `SELECT ${COLUMNS} FROM causeway_dead_letters ${text} ORDER BY id${limit}`,
        )
        .all(...params),
    );
    return rows.map(toLetter);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const rowId = toRowId(id);
    if (rowId === undefined) return undefined;
    const row = await this.#read(() =>
      this.database
        .prepare<[number], RawLetter>(`SELECT ${COLUMNS} FROM causeway_dead_letters WHERE id = ?`)
        .get(rowId),
    );
    return row === undefined ? undefined : toLetter(row);
  }

  async count(query: Filter = {}): Promise<number> {
    const [text, params] = where(query);
    const row = await this.#read(() =>
      this.database
        .prepare<unknown[], { n: number }>(
          `SELECT count(*) AS n FROM causeway_dead_letters ${text}`,
        )
        .get(...params),
    );
    return row?.n ?? 0;
  }

  async retry(id: string): Promise<boolean> {
    const rowId = toRowId(id);
    if (rowId === undefined) return false;
    const db = this.database;
    const destination = await this.#write(() => {
      const row = db
        .prepare<[number], RawLetter>(`SELECT ${COLUMNS} FROM causeway_dead_letters WHERE id = ?`)
        .get(rowId);
      if (row === undefined) return undefined;
      const headers = JSON.parse(row.headers) as Record<string, string>;
      const key = headers[`${HEADER_PREFIX}partitionkey`] ?? null;
      const now = Date.now();
      // The message is still in the destination's log: deliver that row again, so a group
      // created later does not see it twice. Only if the log lost it is it logged anew.
      const logged = db
        .prepare<[string, string | null, string], { position: number }>(
          `SELECT position FROM causeway_messages
           WHERE destination = ? AND id IS ? AND body = ? ORDER BY position DESC LIMIT 1`,
        )
        .get(row.destination, row.messageId, row.body);
      const position =
        logged?.position ??
        Number(
          db
            .prepare(
              `INSERT INTO causeway_messages (destination, id, headers, body, partition_key, created_at)
               VALUES (?, ?, ?, ?, ?, ?)`,
            )
            .run(row.destination, row.messageId, row.headers, row.body, key, now).lastInsertRowid,
        );
      db.prepare(
        `INSERT OR IGNORE INTO causeway_deliveries
           (destination, group_name, position, partition_key, available_at)
         VALUES (?, ?, ?, ?, ?)`,
      ).run(row.destination, row.group, position, key, now);
      db.prepare('DELETE FROM causeway_dead_letters WHERE id = ?').run(rowId);
      return row.destination;
    });
    if (destination === undefined) return false;
    this.onRetried?.(destination);
    return true;
  }

  async purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    const [text, params] = where(query);
    return this.#write(
      () =>
        this.database.prepare(`DELETE FROM causeway_dead_letters ${text}`).run(...params).changes,
    );
  }

  async #read<T>(work: () => T): Promise<T> {
    const db = this.database;
    return this.#gate.run(db, 'read', () => {
      if (!db.open) throw new StoreClosedError();
      try {
        return work();
      } catch (error) {
        throw toStoreError(error, addressOf(db.name));
      }
    });
  }

  async #write<T>(work: () => T): Promise<T> {
    const db = this.database;
    return this.#gate.run(db, 'write', () => {
      if (!db.open) throw new StoreClosedError();
      try {
        return db.transaction(work).immediate();
      } catch (error) {
        throw toStoreError(error, addressOf(db.name));
      }
    });
  }
}
