import { readFileSync } from 'node:fs';

/**
 * The outbox relay cases: the hook for the SQL outbox stores (they land separately). Planned:
 * messages written in application transactions (one row per message, committed with a
 * business row), then `OutboxRelay` publishing them to the same database's SQL queue and to
 * RabbitMQ, against a raw loop doing the same SELECT … FOR UPDATE SKIP LOCKED, publish,
 * DELETE per batch. Until `SqliteOutboxStore` / `PostgresOutboxStore` are exported, the cases
 * are listed as skipped with this reason.
 */

const STORES = [
  { backend: 'sqlite', name: 'SqliteOutboxStore', entry: 'src/adapters/sqlite/index.ts' },
  { backend: 'postgres', name: 'PostgresOutboxStore', entry: 'src/adapters/postgres/index.ts' },
] as const;

export function outboxCaseNames(backend: string): string[] {
  return [`${backend} · outbox relay → ${backend} queue`, `${backend} · outbox relay → rabbitmq`];
}

function exported(entry: string, name: string): boolean {
  try {
    return readFileSync(new URL(`../../${entry}`, import.meta.url), 'utf8').includes(name);
  } catch {
    return false;
  }
}

/** The outbox cases that cannot run, and why. */
export function outboxPending(): { cases: string[]; reason: string } {
  const missing = STORES.filter((store) => !exported(store.entry, store.name));
  const cases = STORES.flatMap((store) => outboxCaseNames(store.backend));
  return missing.length > 0
    ? {
        cases,
        reason: `the SQL outbox stores have not landed (${missing.map((s) => s.name).join(', ')} not exported); bench/transports/outbox.ts is the hook for them`,
      }
    : {
        cases,
        reason:
          'the SQL outbox stores exist but bench/transports/outbox.ts does not measure them yet',
      };
}
