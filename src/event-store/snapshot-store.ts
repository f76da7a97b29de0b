/**
 * Snapshots: the folded state of a stream at a version, so loading a long stream reads the
 * snapshot plus the events after it. A store keeps the newest snapshot per stream (and
 * ignores an older one saved late). State must be JSON-serializable; `stateVersion` lets code discard snapshots taken with an
 * older shape of the state instead of mis-reading them.
 */
export interface Snapshot<S = unknown> {
  streamId: string;
  /** The stream version the state includes (all events up to and including it). */
  version: number;
  state: S;
  /** Version of the state's shape; a snapshot with another version is ignored on load. */
  stateVersion: number;
  createdAt: Date;
}

export interface SnapshotStore {
  load<S = unknown>(
    streamId: string,
    options?: { stateVersion?: number },
  ): Promise<Snapshot<S> | undefined>;
  /** Keeps the snapshot unless a newer one (higher `version`) is already stored. */
  save<S>(snapshot: Snapshot<S>): Promise<void>;
  delete(streamId: string): Promise<void>;
}

/** Decides after a save whether to take a snapshot. */
export interface SnapshotPolicy {
  shouldSnapshot(change: {
    previousVersion: number;
    newVersion: number;
    lastSnapshotVersion: number | undefined;
  }): boolean;
}

/**
 * Snapshot whenever the stream crosses a multiple of `n` — not only when it lands exactly on
 * one, so a save of several events cannot jump over the boundary and never snapshot.
 */
export function everyNEvents(n: number): SnapshotPolicy {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`everyNEvents: n must be an integer >= 1, got ${n}`);
  return {
    shouldSnapshot: ({ previousVersion, newVersion }) =>
      Math.floor(newVersion / n) > Math.floor(previousVersion / n),
  };
}

export class MemorySnapshotStore implements SnapshotStore {
  readonly #snapshots = new Map<string, Snapshot>();

  async load<S = unknown>(
    streamId: string,
    options: { stateVersion?: number } = {},
  ): Promise<Snapshot<S> | undefined> {
    const snapshot = this.#snapshots.get(streamId);
    if (!snapshot) return undefined;
    if (options.stateVersion !== undefined && snapshot.stateVersion !== options.stateVersion)
      return undefined;
    return { ...snapshot, state: JSON.parse(JSON.stringify(snapshot.state)) as S };
  }

  async save<S>(snapshot: Snapshot<S>): Promise<void> {
    const existing = this.#snapshots.get(snapshot.streamId);
    if (existing && existing.version > snapshot.version) return;
    // Round-trip through JSON like the SQL stores do, so a Date in state comes back as a
    // string everywhere instead of only on SQL.
    this.#snapshots.set(snapshot.streamId, {
      ...snapshot,
      state: JSON.parse(JSON.stringify(snapshot.state)) as unknown,
    });
  }

  async delete(streamId: string): Promise<void> {
    this.#snapshots.delete(streamId);
  }
}
