import { isStreamNotFoundError } from '../core/errors.js';
import type { EventStore } from '../event-store/event-store.js';
import type { Snapshot, SnapshotPolicy, SnapshotStore } from '../event-store/snapshot-store.js';
import { visibleFromVersion } from '../event-store/stream-visibility.js';
import type { RecordedEvent } from '../event-store/types.js';

export interface SnapshotSettings {
  store: SnapshotStore;
  policy: SnapshotPolicy;
  /** Bump when the state's shape changes: snapshots of another shape are ignored. Default 1. */
  stateVersion?: number;
}

export interface LoadedState<S> {
  state: S;
  /** Stream version the state includes; 0 for a new stream. */
  version: number;
  /** Version of the snapshot the load started from, if any. */
  snapshotVersion: number | undefined;
}

/**
 * Loads a state by starting from the newest usable snapshot, then folding the events after
 * it. A missing (or soft-deleted) stream loads as the initial state at version 0.
 */
export async function loadState<S>(
  store: EventStore,
  streamId: string,
  initial: () => S,
  fold: (state: S, event: RecordedEvent) => S,
  snapshots: SnapshotSettings | undefined,
): Promise<LoadedState<S>> {
  const snapshot = snapshots ? await usableSnapshot<S>(store, streamId, snapshots) : undefined;
  let state = snapshot ? snapshot.state : initial();
  let version = snapshot?.version ?? 0;
  let folded = 0;
  try {
    for await (const event of store.readStream(streamId, { from: version + 1 })) {
      state = fold(state, event);
      version = event.streamVersion;
      folded++;
    }
  } catch (error) {
    if (!isStreamNotFoundError(error)) throw error;
    return { state: initial(), version: 0, snapshotVersion: undefined };
  }
  if (folded === 0 && !snapshot) {
    // The stream exists but shows nothing (maxAge, truncateBefore hid every event): the next
    // append must still expect its real version, or it would conflict forever.
    const info = await store.getStream(streamId);
    if (info?.state === 'active') version = info.version;
  }
  return { state, version, snapshotVersion: snapshot?.version };
}

/**
 * The stored snapshot, if the events after it are all readable. A snapshot from before a
 * soft delete (or older than a truncation) would skip hidden events or resurrect a previous
 * life of the stream, so it is ignored.
 */
async function usableSnapshot<S>(
  store: EventStore,
  streamId: string,
  snapshots: SnapshotSettings,
): Promise<Snapshot<S> | undefined> {
  const snapshot = await snapshots.store.load<S>(streamId, {
    stateVersion: snapshots.stateVersion ?? 1,
  });
  if (!snapshot) return undefined;
  const info = await store.getStream(streamId);
  if (!info || info.state !== 'active' || snapshot.version > info.version) return undefined;
  return snapshot.version + 1 >= visibleFromVersion(info) ? snapshot : undefined;
}

/** Saves a snapshot after a successful append when the policy says so. */
export async function maybeSnapshot<S>(
  snapshots: SnapshotSettings | undefined,
  streamId: string,
  previousVersion: number,
  newVersion: number,
  lastSnapshotVersion: number | undefined,
  state: () => S,
  now: () => Date,
): Promise<void> {
  if (!snapshots) return;
  if (!snapshots.policy.shouldSnapshot({ previousVersion, newVersion, lastSnapshotVersion }))
    return;
  try {
    await snapshots.store.save({
      streamId,
      version: newVersion,
      state: state(),
      stateVersion: snapshots.stateVersion ?? 1,
      createdAt: now(),
    });
  } catch (error) {
    // The events are already committed: failing the command now would invite a duplicate
    // retry. A missed snapshot only costs a longer load, so warn and carry on.
    process.emitWarning(
      `Snapshot of "${streamId}" at version ${newVersion} failed: ${String(error)}`,
      'CausewaySnapshotWarning',
    );
  }
}
