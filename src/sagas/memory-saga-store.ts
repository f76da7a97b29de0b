import { systemClock, type Clock } from '../core/clock.js';
import { deserializeJson, serializeJson } from '../core/serializer.js';
import { SagaLeaseLostError } from './errors.js';
import {
  ACTIVE_SAGA_STATUSES,
  type LeaseRenewal,
  type SagaInstance,
  purgeStatuses,
  type SagaPurgeQuery,
  type SagaQuery,
  type SagaStatusCount,
  type SagaStore,
} from './saga-store.js';

/** A stored row: the instance with its data kept as JSON text, as a SQL store keeps it. */
type Row = Omit<SagaInstance, 'data'> & { data: string };

/**
 * The in-memory saga store: the reference the SQL stores are checked against (the saga-store
 * contract suite). Data goes through JSON on the way in and out, so what a test reads back
 * is what a database would return; everything else is deep-copied, so callers never share
 * objects with the store.
 */
export class MemorySagaStore implements SagaStore {
  readonly #rows = new Map<string, Row>();
  readonly #clock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async create(
    instance: Omit<SagaInstance, 'version' | 'leaseOwner' | 'leaseExpiresAt'>,
    owner: string,
    ttlMs: number,
  ): Promise<SagaInstance | undefined> {
    if (this.#rows.has(instance.id)) return undefined;
    const row: Row = {
      ...structuredClone({ ...instance, data: undefined }),
      data: serializeJson(instance.data, `data of saga ${instance.id}`),
      version: 1,
      leaseOwner: owner,
      leaseExpiresAt: this.#expiry(ttlMs),
    };
    this.#rows.set(instance.id, row);
    return toInstance(row);
  }

  async get(id: string): Promise<SagaInstance | undefined> {
    const row = this.#rows.get(id);
    return row && toInstance(row);
  }

  async list(query: SagaQuery = {}): Promise<SagaInstance[]> {
    const statuses =
      query.status === undefined
        ? undefined
        : typeof query.status === 'string'
          ? [query.status]
          : query.status;
    return [...this.#rows.values()]
      .filter(
        (row) =>
          (statuses === undefined || statuses.includes(row.status)) &&
          (query.name === undefined || row.name === query.name) &&
          (query.after === undefined || row.id > query.after),
      )
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, query.limit ?? 100)
      .map(toInstance);
  }

  async purge(query: SagaPurgeQuery): Promise<number> {
    const statuses = purgeStatuses(query);
    let purged = 0;
    for (const [id, row] of this.#rows) {
      if (!statuses.includes(row.status)) continue;
      if (query.name !== undefined && row.name !== query.name) continue;
      if ((row.endedAt ?? row.updatedAt) >= query.olderThan) continue;
      this.#rows.delete(id);
      purged++;
    }
    return purged;
  }

  async countByStatus(): Promise<SagaStatusCount[]> {
    const counts = new Map<string, SagaStatusCount>();
    for (const row of this.#rows.values()) {
      const key = `${row.name}\u0000${row.status}`;
      const entry = counts.get(key);
      if (entry) entry.count++;
      else counts.set(key, { name: row.name, status: row.status, count: 1 });
    }
    return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, count]) => count);
  }

  async save(instance: SagaInstance, owner: string, ttlMs: number): Promise<SagaInstance> {
    const row = this.#rows.get(instance.id);
    if (!row || row.version !== instance.version || !this.#holds(row, owner))
      throw new SagaLeaseLostError(instance.id, owner);
    // Serialize first: a value that cannot be stored must leave the row untouched.
    const data = serializeJson(instance.data, `data of saga ${instance.id}`);
    const next: Row = {
      ...structuredClone({ ...instance, data: undefined }),
      data,
      version: row.version + 1,
      leaseOwner: owner,
      leaseExpiresAt: this.#expiry(ttlMs),
      abortRequestedAt: row.abortRequestedAt,
    };
    this.#rows.set(instance.id, next);
    return toInstance(next);
  }

  async acquireLease(id: string, owner: string, ttlMs: number): Promise<SagaInstance | undefined> {
    const row = this.#rows.get(id);
    if (!row) return undefined;
    const free =
      row.leaseOwner === undefined ||
      row.leaseOwner === owner ||
      row.leaseExpiresAt === undefined ||
      row.leaseExpiresAt <= this.#clock.now();
    if (!free) return undefined;
    row.leaseOwner = owner;
    row.leaseExpiresAt = this.#expiry(ttlMs);
    return toInstance(row);
  }

  async renewLease(id: string, owner: string, ttlMs: number): Promise<LeaseRenewal | undefined> {
    const row = this.#rows.get(id);
    if (!row || !this.#holds(row, owner)) return undefined;
    row.leaseExpiresAt = this.#expiry(ttlMs);
    return { abortRequested: row.abortRequestedAt !== undefined };
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    const row = this.#rows.get(id);
    if (row?.leaseOwner === owner) {
      row.leaseOwner = undefined;
      row.leaseExpiresAt = undefined;
    }
  }

  async claim(
    names: readonly string[],
    owner: string,
    ttlMs: number,
    limit: number,
  ): Promise<SagaInstance[]> {
    const now = this.#clock.now();
    const claimed = [...this.#rows.values()]
      .filter(
        (row) =>
          names.includes(row.name) &&
          ACTIVE_SAGA_STATUSES.includes(row.status) &&
          (row.leaseOwner === undefined ||
            row.leaseExpiresAt === undefined ||
            row.leaseExpiresAt <= now),
      )
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1))
      .slice(0, limit);
    for (const row of claimed) {
      row.leaseOwner = owner;
      row.leaseExpiresAt = this.#expiry(ttlMs);
    }
    return claimed.map(toInstance);
  }

  async requestAbort(id: string): Promise<SagaInstance | undefined> {
    const row = this.#rows.get(id);
    if (!row) return undefined;
    row.abortRequestedAt ??= this.#clock.now();
    return toInstance(row);
  }

  #holds(row: Row, owner: string): boolean {
    return (
      row.leaseOwner === owner &&
      row.leaseExpiresAt !== undefined &&
      row.leaseExpiresAt > this.#clock.now()
    );
  }

  #expiry(ttlMs: number): Date {
    return new Date(this.#clock.now().getTime() + ttlMs);
  }
}

function toInstance(row: Row): SagaInstance {
  return {
    ...structuredClone({ ...row, data: undefined }),
    data: deserializeJson(row.data, `data of saga ${row.id}`),
  };
}
