import { CausewayError, ValidationError } from '../core/errors.js';
import type { RecordedEvent } from '../event-store/types.js';
import type { ReadModelSession, TableDefinition } from './read-model.js';

export type ProjectionHandler = (
  event: RecordedEvent,
  session: ReadModelSession,
) => void | Promise<void>;

export interface ProjectionDefinition {
  /** Stable identifier, also the checkpoint key. */
  readonly name: string;
  /**
   * Bump to rebuild into new tables while the previous version keeps serving (blue/green);
   * the new version becomes visible to queries only once it has caught up.
   */
  readonly version: number;
  /**
   * `async` (default): advanced by a `ProjectionRunner` from the log. `inline`: updated in
   * the append transaction through the event store's `inline` option; it has no runner and
   * cannot be rebuilt while writers run (both would apply events twice).
   */
  readonly mode: 'async' | 'inline';
  /** The tables this projection owns (and only it writes). */
  readonly tables: readonly TableDefinition[];
  /**
   * One handler per event type; other types are never read. A projection runs either inline
   * (in the append transaction) or async (from a runner), not both: inline projections do
   * not keep a checkpoint.
   */
  readonly handlers: Readonly<Record<string, ProjectionHandler>>;
}

const NAME = /^[a-z][a-z0-9_.-]{0,99}$/;

export function defineProjection(definition: {
  name: string;
  version?: number;
  mode?: 'async' | 'inline';
  tables: readonly TableDefinition[];
  handlers: Record<string, ProjectionHandler>;
}): ProjectionDefinition {
  const version = definition.version ?? 1;
  const issues: { path: string[]; message: string }[] = [];
  if (!NAME.test(definition.name))
    issues.push({ path: ['name'], message: 'must match /^[a-z][a-z0-9_.-]{0,99}$/' });
  if (!Number.isSafeInteger(version) || version < 1)
    issues.push({ path: ['version'], message: 'must be an integer >= 1' });
  if (Object.keys(definition.handlers).length === 0)
    issues.push({ path: ['handlers'], message: 'must handle at least one event type' });
  if (issues.length > 0)
    throw new ValidationError(`Invalid projection "${definition.name}"`, issues);
  if (definition.mode !== undefined && definition.mode !== 'async' && definition.mode !== 'inline')
    throw new ValidationError(`Invalid projection "${definition.name}"`, [
      { path: ['mode'], message: "must be 'async' or 'inline'" },
    ]);
  return {
    name: definition.name,
    version,
    mode: definition.mode ?? 'async',
    tables: definition.tables,
    handlers: definition.handlers,
  };
}

/**
 * Which version queries see: the `active` one. A newer version is `building` until it has
 * caught up and is activated; the older one is then `retired`.
 */
export type ProjectionStatus = 'building' | 'active' | 'retired';

export interface ProjectionState {
  name: string;
  version: number;
  status: ProjectionStatus;
  /** A paused projection is not advanced by any runner until resumed. */
  paused: boolean;
  /** Last global position applied to the read model (in the same transaction as its rows). */
  position: number;
  leaseOwner: string | undefined;
  leaseExpiresAt: Date | undefined;
  /** Set when a runner gave up on an event; cleared when it advances again. */
  error: string | undefined;
  updatedAt: Date;
}

export class ProjectionFailedError extends CausewayError {
  constructor(
    readonly projection: string,
    readonly position: number | undefined,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super('PROJECTION_FAILED', message, options);
  }
}

/** Another runner holds the projection, or moved its checkpoint: this runner must stop writing. */
export class LeaseLostError extends CausewayError {
  constructor(
    readonly projection: string,
    readonly owner: string,
  ) {
    super(
      'LEASE_LOST',
      `Projection "${projection}" is no longer held by ${owner}; another runner took over.`,
    );
  }
}

/**
 * Where projections keep their read models, checkpoints and leases. SQL adapters implement it
 * in the same database as the read-model tables, so a batch's rows and its checkpoint commit
 * together: after any crash the read model equals a replay of the log up to the checkpoint.
 */
export interface ProjectionStore {
  /** Creates the version's tables and state row if missing. The first version ever becomes active. */
  prepare(projection: ProjectionDefinition): Promise<ProjectionState>;
  get(name: string, version: number): Promise<ProjectionState | undefined>;
  list(): Promise<ProjectionState[]>;
  /** Takes the lease if it is free, expired or already `owner`'s, and extends it by `ttlMs`. */
  acquireLease(name: string, version: number, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, version: number, owner: string): Promise<void>;
  /**
   * One transaction: checks that `owner` holds the lease and the checkpoint is still
   * `fromPosition` (else `LeaseLostError`), runs `work`, sets the checkpoint to `toPosition`.
   */
  applyBatch(
    projection: ProjectionDefinition,
    owner: string,
    fromPosition: number,
    toPosition: number,
    work: (session: ReadModelSession) => Promise<void>,
  ): Promise<void>;
  setPaused(name: string, version: number, paused: boolean): Promise<void>;
  /** Records why the projection stopped (or clears it with `undefined`). */
  setError(name: string, version: number, error: string | undefined): Promise<void>;
  /** Empties the version's tables and sets its checkpoint to 0, atomically. */
  reset(projection: ProjectionDefinition): Promise<void>;
  /** Points queries at this version's tables and retires the other versions, atomically. */
  activate(projection: ProjectionDefinition): Promise<void>;
  /** Drops a retired version's tables and state. */
  drop(name: string, version: number, tables: readonly TableDefinition[]): Promise<void>;
  /** Reads the active versions (what queries should see). */
  reader(): ReadModelSession;
  /** The session for inline projections, bound to the event store's open transaction. */
  inlineSession?(transaction: unknown, projection: ProjectionDefinition): ReadModelSession;
  /** Releases connections the store opened itself. */
  close?(): Promise<void>;
}
