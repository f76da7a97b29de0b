import type { ProjectionState, ProjectionStore } from '../../projections/projection.js';
import { CliError } from '../errors.js';

/** A state row with where the log is, so lag needs no second look. */
export interface ProjectionRow extends ProjectionState {
  head: number;
  /** Events of the log after the checkpoint; `null` for a retired version, which no longer moves. */
  lag: number | null;
}

export async function projectionRows(
  store: ProjectionStore,
  head: number,
): Promise<ProjectionRow[]> {
  return (await store.list()).map((state) => withHead(state, head));
}

export function withHead(state: ProjectionState, head: number): ProjectionRow {
  return {
    ...state,
    head,
    lag: state.status === 'retired' ? null : Math.max(0, head - state.position),
  };
}

/** The versions of `name`; an unknown name is an error that lists the names there are. */
export function selectByName(rows: readonly ProjectionRow[], name: string): ProjectionRow[] {
  const found = rows.filter((row) => row.name === name);
  if (found.length > 0) return found;
  throw unknownProjection(name, [...new Set(rows.map((row) => row.name))], 'in this database');
}

export function unknownProjection(name: string, known: readonly string[], where: string): CliError {
  return new CliError(
    `unknown projection "${name}"`,
    known.length === 0
      ? `there are no projections ${where}`
      : `projections ${where}: ${known.join(', ')}`,
  );
}

/** Fixed keys, absent values as `null`, like the events' JSON lines. */
export function projectionToJson(row: ProjectionRow): Record<string, unknown> {
  return {
    name: row.name,
    version: row.version,
    status: row.status,
    paused: row.paused,
    position: row.position,
    head: row.head,
    lag: row.lag,
    leaseOwner: row.leaseOwner ?? null,
    leaseExpiresAt: row.leaseExpiresAt?.toISOString() ?? null,
    leaseHeld: leaseHeld(row),
    error: row.error ?? null,
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function leaseHeld(row: ProjectionState, now = Date.now()): boolean {
  return row.leaseOwner !== undefined && (row.leaseExpiresAt?.getTime() ?? 0) > now;
}
