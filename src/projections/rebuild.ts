import { TimeoutError, ValidationError } from '../core/errors.js';
import { sleep } from '../core/retry.js';
import type { EventStore } from '../event-store/event-store.js';
import type { ProjectionDefinition, ProjectionStore } from './projection.js';
import { ProjectionRunner, type ProjectionProgress } from './projection-runner.js';

export interface RebuildOptions {
  store: EventStore;
  projections: ProjectionStore;
  projection: ProjectionDefinition;
  onProgress?: (progress: ProjectionProgress) => void;
  batchSize?: number;
  /** How long to wait for running runners to let go of the projection. Default 30 s. */
  timeoutMs?: number;
}

/**
 * Rebuild in place: pauses the projection (running runners let go of it), empties its tables
 * and replays the whole log into them, then resumes. Queries see the tables filling up; use
 * `rebuildBlueGreen` to keep serving the old version meanwhile.
 */
export async function rebuildProjection(options: RebuildOptions): Promise<{ position: number }> {
  const { projections, projection, timeoutMs = 30_000 } = options;
  refuseInline(projection);
  const before = await projections.prepare(projection);
  await projections.setPaused(projection.name, projection.version, true);
  const owner = `rebuild:${process.pid}:${Date.now()}`;
  try {
    const deadline = Date.now() + timeoutMs;
    // A paused runner releases its lease on its next heartbeat; wait for that.
    while (
      !(await projections.acquireLease(projection.name, projection.version, owner, timeoutMs))
    ) {
      if (Date.now() > deadline)
        throw new TimeoutError(
          `Projection "${projection.name}" is still held by another runner after ${timeoutMs} ms`,
        );
      await sleep(100);
    }
    await projections.reset(projection);
    await projections.setError(projection.name, projection.version, undefined);
    return await runToHead({ ...options, owner, ignorePause: true });
  } finally {
    // Leave the pause as the operator had it; un-pause even if releasing the lease failed.
    await projections
      .releaseLease(projection.name, projection.version, owner)
      .catch(() => undefined);
    await projections.setPaused(projection.name, projection.version, before.paused);
  }
}

function refuseInline(projection: RebuildOptions['projection']): void {
  if (projection.mode === 'inline') {
    throw new ValidationError('Cannot rebuild an inline projection while it runs', [
      {
        path: ['projection', 'mode'],
        message: `"${projection.name}" is written by appends; stop the writers and rebuild it offline, or deploy it as a new async version`,
      },
    ]);
  }
}

/**
 * Blue/green: builds `projection` (a new version) into its own tables while the active
 * version keeps serving, then switches queries to it atomically once it has caught up.
 */
export async function rebuildBlueGreen(options: RebuildOptions): Promise<{ position: number }> {
  refuseInline(options.projection);
  const state = await options.projections.prepare(options.projection);
  if (state.status === 'retired' || state.paused) {
    throw new ValidationError('Nothing to build', [
      {
        path: ['projection', 'version'],
        message: `v${options.projection.version} of "${options.projection.name}" is ${state.paused ? 'paused' : 'retired'}; resume it or deploy a newer version`,
      },
    ]);
  }
  if (state.status === 'active') {
    throw new ValidationError('Nothing to build', [
      {
        path: ['projection', 'version'],
        message: `v${options.projection.version} of "${options.projection.name}" is already active; bump the version to build a new one`,
      },
    ]);
  }
  return runToHead({ ...options, activateWhenCaughtUp: true });
}

async function runToHead(
  options: RebuildOptions & {
    owner?: string;
    ignorePause?: boolean;
    activateWhenCaughtUp?: boolean;
  },
): Promise<{ position: number }> {
  const runner = new ProjectionRunner({
    store: options.store,
    projections: options.projections,
    projection: options.projection,
    ...(options.owner === undefined ? {} : { owner: options.owner }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    ignorePause: options.ignorePause ?? false,
    activateWhenCaughtUp: options.activateWhenCaughtUp ?? false,
  });
  try {
    // The first time the runner finds the end of the log it has replayed everything up to
    // at least `head` (and, for blue/green, switched queries over).
    await runner.caughtUp();
    return { position: runner.position };
  } finally {
    await runner.stop();
  }
}
