/**
 * The persisted shape of a saga instance and the `SagaStore` port that keeps it.
 *
 * A store is three things: rows keyed by saga id, a version column for conditional writes,
 * and a lease (owner + expiry) per row. SQL stores map it to one table: `id`, `name`,
 * `status`, `version`, `lease_owner`, `lease_expires_at`, `abort_requested_at`,
 * `created_at`, `updated_at`, and the rest of the instance as one JSON column. Every write a
 * runtime makes is `UPDATE … WHERE id = ? AND version = ? AND lease_owner = ? AND
 * lease_expires_at > now`: a runtime whose lease ran out can no longer write (fencing).
 */

import { ValidationError } from '../core/errors.js';

export type SagaStatus =
  'running' | 'compensating' | 'completed' | 'failed' | 'compensation_failed';

/** Statuses a runtime drives; the others wait for an operator (or are done). */
export const ACTIVE_SAGA_STATUSES: readonly SagaStatus[] = ['running', 'compensating'];

export type SagaStepKind = 'execute' | 'compensate';

/**
 * How one attempt ended. `started`: the attempt is running, or its runtime died during it
 * (a runtime that takes the instance over records it as `interrupted`, and it counts as an
 * attempt, so a step that kills its process cannot loop forever).
 */
export type SagaAttemptOutcome =
  'started' | 'succeeded' | 'failed' | 'timed_out' | 'interrupted' | 'aborted';

/** An error as stored: what operators read and match on. */
export interface SagaErrorInfo {
  /** The error class name, e.g. `PermanentError`, `TimeoutError`, `Error`. */
  name: string;
  /** The `CausewayError` code, when the error has one. */
  code?: string;
  message: string;
}

/** One attempt at a step's execution or compensation. */
export interface SagaAttempt {
  step: string;
  kind: SagaStepKind;
  /** 1-based, per step and kind (and per visit, for a state entered again). */
  attempt: number;
  idempotencyKey: string;
  startedAt: Date;
  endedAt?: Date;
  outcome: SagaAttemptOutcome;
  error?: SagaErrorInfo;
}

/**
 * A step whose execution failed with an uncertain outcome: an attempt timed out, was
 * interrupted (its runtime died during it) or was aborted while it ran, so its effect may
 * have happened (a command still queued at a slow service is processed later). The runtime
 * compensates it like a completed step, in its place in the order.
 */
export interface SagaUncertainStep {
  step: string;
  /** How many completed steps preceded it: its place in the compensation order. */
  after: number;
  /** The attempt that may have had the effect, and how it ended. */
  attempt: number;
  outcome: 'timed_out' | 'interrupted' | 'aborted';
}

/** Why the instance failed: the step, whether it was executing or compensating, and the error. */
export interface SagaFailure extends SagaErrorInfo {
  step: string;
  kind: SagaStepKind;
}

export interface SagaInstance {
  /** Unique; choose a business id (`order-42`) to make starting a saga idempotent. */
  id: string;
  /** The definition's name. */
  name: string;
  status: SagaStatus;
  /** The step (or state) being executed; `undefined` once the instance is terminal. */
  currentStep: string | undefined;
  /** Attempts already made at `currentStep` (execution) or at the pending compensation. */
  attempt: number;
  /** How many times each step was entered; a state machine may enter a state twice. */
  visits: Record<string, number>;
  /** Steps whose execution succeeded, in order. Compensation walks them backwards. */
  completedSteps: string[];
  /**
   * Steps that failed with an uncertain outcome and are compensated too (see
   * `SagaUncertainStep`); empty for instances stored before this field existed.
   */
  uncertainSteps: SagaUncertainStep[];
  /**
   * Steps already handled by compensation (compensated, or had nothing to undo), in the
   * order handled: completed steps and uncertain steps, walking backwards.
   */
  compensatedSteps: string[];
  /** The saga's data, JSON. Dates come back as ISO strings. */
  data: unknown;
  /** The failure that made the instance compensate (or fail compensating); `undefined` otherwise. */
  error: SagaFailure | undefined;
  history: SagaAttempt[];
  /** Set by `requestAbort`; the driving runtime compensates as soon as it sees it. */
  abortRequestedAt: Date | undefined;
  createdAt: Date;
  updatedAt: Date;
  /** When the instance reached `completed` or `failed`. */
  endedAt: Date | undefined;
  /** Incremented by the store on every write; writes are conditional on it. */
  version: number;
  leaseOwner: string | undefined;
  leaseExpiresAt: Date | undefined;
}

export interface SagaQuery {
  status?: SagaStatus | readonly SagaStatus[];
  name?: string;
  /** Default 100. */
  limit?: number;
  /** Cursor: only instances after this id (ids are ordered; UUIDv7 ids sort by creation). */
  after?: string;
}

/** Which finished instances `SagaStore.purge` deletes. */
export interface SagaPurgeQuery {
  /** Instances that ended (or, if they never ended, last changed) before this time. */
  olderThan: Date;
  /**
   * Default `completed` and `failed`. `compensation_failed` may be named to drop instances an
   * operator gave up on; active statuses are refused (a runtime is still driving them).
   */
  statuses?: readonly SagaStatus[];
  /** Only instances of this saga. */
  name?: string;
}

/** Statuses `purge` may delete, and those it deletes by default. */
export const PURGEABLE_SAGA_STATUSES: readonly SagaStatus[] = [
  'completed',
  'failed',
  'compensation_failed',
];

/** The statuses a purge query names (default completed and failed); refuses active ones. */
export function purgeStatuses(query: SagaPurgeQuery): readonly SagaStatus[] {
  const statuses = query.statuses ?? ['completed', 'failed'];
  const active = statuses.filter((status) => !PURGEABLE_SAGA_STATUSES.includes(status));
  if (active.length > 0)
    throw new ValidationError('Invalid saga purge', [
      {
        path: ['statuses'],
        message: `${active.join(', ')} instances are still driven by a runtime; only ${PURGEABLE_SAGA_STATUSES.join(', ')} can be purged`,
      },
    ]);
  return statuses;
}

/** How many instances of one saga are in one status (see `SagaStore.countByStatus`). */
export interface SagaStatusCount {
  name: string;
  status: SagaStatus;
  count: number;
}

/** What a lease renewal found. */
export interface LeaseRenewal {
  /** An operator asked for the instance to be aborted. */
  abortRequested: boolean;
}

/**
 * Where saga instances live. The runtime is the only writer of instance state, and it
 * writes only while it holds the instance's lease; operators' requests (abort) are separate
 * columns the runtime reads back, so they never race the runtime's writes.
 *
 * Times used for leases come from the store's own clock (the database's, in SQL stores), so
 * runtimes on machines with skewed clocks still agree on who holds what.
 */
export interface SagaStore {
  /**
   * Inserts a new instance at version 1, leased to `owner` for `ttlMs`. Returns `undefined`
   * (and changes nothing) when an instance with this id already exists.
   */
  create(
    instance: Omit<SagaInstance, 'version' | 'leaseOwner' | 'leaseExpiresAt'>,
    owner: string,
    ttlMs: number,
  ): Promise<SagaInstance | undefined>;

  get(id: string): Promise<SagaInstance | undefined>;

  /** Instances ordered by id, filtered by status and name. */
  list(query?: SagaQuery): Promise<SagaInstance[]>;

  /**
   * Writes `instance` if the stored version is `instance.version` and `owner` holds an
   * unexpired lease; extends the lease by `ttlMs` and returns the stored instance (version
   * + 1, `abortRequestedAt` as stored). Otherwise throws `SagaLeaseLostError` and writes
   * nothing. `instance.version` is the expected version; the lease fields and
   * `abortRequestedAt` in `instance` are ignored (the stored ones are kept or set).
   */
  save(instance: SagaInstance, owner: string, ttlMs: number): Promise<SagaInstance>;

  /**
   * Takes the lease if it is free, expired or already `owner`'s; returns the instance as
   * stored, or `undefined` if someone else holds it (or the id is unknown). Does not change
   * `version`: a lease change is not a state change, and the previous holder is fenced by
   * the owner check anyway.
   */
  acquireLease(id: string, owner: string, ttlMs: number): Promise<SagaInstance | undefined>;

  /** Extends `owner`'s unexpired lease; `undefined` when it is no longer held. */
  renewLease(id: string, owner: string, ttlMs: number): Promise<LeaseRenewal | undefined>;

  /** Frees the lease if `owner` holds it, so another runtime can take over at once. */
  releaseLease(id: string, owner: string): Promise<void>;

  /**
   * Leases up to `limit` active (`running`/`compensating`) instances of the named sagas
   * whose lease is free or expired, oldest first, in one atomic step, and returns them: the
   * work a runtime takes over. Two runtimes claiming at once never get the same instance
   * (SQL: `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING *`).
   */
  claim(
    names: readonly string[],
    owner: string,
    ttlMs: number,
    limit: number,
  ): Promise<SagaInstance[]>;

  /**
   * Records an operator's abort request (the first request's time is kept). Returns the
   * instance, or `undefined` if the id is unknown. Does not touch `version` or the lease.
   */
  requestAbort(id: string): Promise<SagaInstance | undefined>;

  /**
   * Instances per saga name and status, ordered by name then status (bytewise); pairs with
   * no instance are left out. What dashboards and metrics read, without loading instances.
   */
  countByStatus(): Promise<SagaStatusCount[]>;

  /**
   * Deletes finished instances, history and all (retention: the table otherwise grows with
   * every saga ever run); returns how many. See `SagaPurgeQuery` for which.
   */
  purge(query: SagaPurgeQuery): Promise<number>;
}
