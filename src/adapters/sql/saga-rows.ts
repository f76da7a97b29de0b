import { deserializeJson, serializeJson } from '../../core/serializer.js';
import type {
  SagaAttempt,
  SagaFailure,
  SagaInstance,
  SagaStatus,
  SagaUncertainStep,
} from '../../sagas/saga-store.js';

/*
 * How the SQL saga stores lay an instance out in one row. Columns a query filters, orders or
 * fences on are columns (id, name, status, version, the lease, the abort request, the times);
 * the rest is JSON the store never looks inside:
 *
 * - `data`: the saga's own data, exactly as `serializeJson` wrote it.
 * - `state`: visits, completed and compensated steps, the failure.
 * - `history`: every attempt, a JSON array. A child table was the alternative; JSON wins
 *   because the history is always read and written whole with its instance, in the same
 *   conditional UPDATE that checks the version and the lease (one statement, no transaction
 *   to keep two tables in step), and the runtime rewrites the last entry when an attempt ends,
 *   so it is not append-only anyway. Retry budgets bound its length. The cost is rewriting it
 *   on every save; at tens of attempts that is a few hundred bytes.
 */

/** The row of a saga instance, times as `Date` (each store converts to its column type). */
export interface SagaRow {
  id: string;
  name: string;
  status: SagaStatus;
  version: number;
  current_step: string | null;
  attempt: number;
  data: string;
  state: string;
  history: string;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  abort_requested_at: Date | null;
  created_at: Date;
  updated_at: Date;
  ended_at: Date | null;
}

/** The columns a runtime writes: everything but the version, the lease and the abort request. */
export type SagaContent = Omit<
  SagaRow,
  'version' | 'lease_owner' | 'lease_expires_at' | 'abort_requested_at'
>;

interface StoredState {
  visits: Record<string, number>;
  completedSteps: string[];
  /** Absent in rows written before uncertain steps were compensated. */
  uncertainSteps?: SagaUncertainStep[];
  compensatedSteps: string[];
  error?: SagaFailure;
}

type StoredAttempt = Omit<SagaAttempt, 'startedAt' | 'endedAt'> & {
  startedAt: string;
  endedAt?: string;
};

/**
 * The columns for `instance`. Throws `SerializationError` (before anything is written) when
 * the saga's data cannot be stored as JSON.
 */
export function sagaContent(
  instance: Omit<SagaInstance, 'version' | 'leaseOwner' | 'leaseExpiresAt'>,
): SagaContent {
  const state: StoredState = {
    visits: instance.visits,
    completedSteps: instance.completedSteps,
    ...(instance.uncertainSteps.length === 0 ? {} : { uncertainSteps: instance.uncertainSteps }),
    compensatedSteps: instance.compensatedSteps,
    ...(instance.error === undefined ? {} : { error: instance.error }),
  };
  return {
    id: instance.id,
    name: instance.name,
    status: instance.status,
    current_step: instance.currentStep ?? null,
    attempt: instance.attempt,
    data: serializeJson(instance.data, `data of saga ${instance.id}`),
    state: JSON.stringify(state),
    history: JSON.stringify(instance.history),
    created_at: instance.createdAt,
    updated_at: instance.updatedAt,
    ended_at: instance.endedAt ?? null,
  };
}

/** The instance a row holds. */
export function sagaFromRow(row: SagaRow): SagaInstance {
  const state = JSON.parse(row.state) as StoredState;
  const history = (JSON.parse(row.history) as StoredAttempt[]).map(
    ({ startedAt, endedAt, ...rest }): SagaAttempt => ({
      ...rest,
      startedAt: new Date(startedAt),
      ...(endedAt === undefined ? {} : { endedAt: new Date(endedAt) }),
    }),
  );
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    currentStep: row.current_step ?? undefined,
    attempt: Number(row.attempt),
    visits: state.visits,
    completedSteps: state.completedSteps,
    uncertainSteps: state.uncertainSteps ?? [],
    compensatedSteps: state.compensatedSteps,
    data: deserializeJson(row.data, `data of saga ${row.id}`),
    error: state.error,
    history,
    abortRequestedAt: row.abort_requested_at ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    endedAt: row.ended_at ?? undefined,
    version: Number(row.version),
    leaseOwner: row.lease_owner ?? undefined,
    leaseExpiresAt: row.lease_expires_at ?? undefined,
  };
}

/** `SagaQuery.status` as a list (`undefined`: any status). */
export function statusList(
  status: SagaStatus | readonly SagaStatus[] | undefined,
): readonly SagaStatus[] | undefined {
  return status === undefined ? undefined : typeof status === 'string' ? [status] : status;
}

/** Claimed instances in the port's order, oldest first (RETURNING promises no order). */
export function oldestFirst(instances: SagaInstance[]): SagaInstance[] {
  return instances.sort(
    (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1),
  );
}
