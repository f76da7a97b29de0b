/**
 * The restart bookkeeping of `KafkaStreamRunner`'s partitions, kept apart so the runner reads
 * as group membership and task lifecycle. A partition whose task failed (or whose backend could
 * not be opened) is dropped, and restarts after a backoff without waiting for a rebalance that
 * may never come; this module counts its consecutive failures, schedules the restart, and keeps
 * where the restart must read again from while the partition waits.
 */

/** A partition waiting to restart after a failure: the runner hands it back to `claim`. */
export interface PendingRestart {
  /** The consecutive failures so far: the restart's start is attempt `attempt + 1`. */
  readonly attempt: number;
  timer: NodeJS.Timeout | undefined;
}

export class KafkaPartitionRestarts {
  readonly #pending = new Map<number, PendingRestart>();
  /**
   * Partitions dropped after a failure: their first record not acknowledged, where the
   * restart reads again when the state holds no position (an in-memory one opened afresh).
   */
  readonly #resumeAt = new Map<number, bigint>();
  /** Partitions dropped after a failure, still assigned here, waiting to restart. */
  readonly #dropped = new Set<number>();
  readonly #min: number;
  readonly #max: number;

  /** `delay`: the runner's `restartDelayMs` (default 200 ms, doubled up to 30 s). */
  constructor(delay: { min: number; max: number } | undefined) {
    const { min = 200, max = 30_000 } = delay ?? {};
    this.#min = min;
    this.#max = max;
  }

  /**
   * The partition stopped buffering records after a failure; `at` is its first record not
   * acknowledged (or its fetch position), when known.
   */
  dropped(partition: number, at: bigint | undefined): void {
    if (at !== undefined) this.#resumeAt.set(partition, at);
    this.#dropped.add(partition);
  }

  /**
   * A record fetched for a partition with no source. Waiting to restart: its restart reads
   * again from the first record dropped (when its fetch position was not known yet as it
   * stopped). Otherwise the partition is no longer assigned here: its next owner reads it again.
   */
  fetched(partition: number, offset: bigint): void {
    if (this.#dropped.has(partition) && !this.#resumeAt.has(partition))
      this.#resumeAt.set(partition, offset);
  }

  /** A new assignment of the partition: it starts afresh, superseding a restart pending from the previous one. */
  assigned(partition: number): void {
    this.#resumeAt.delete(partition);
    this.#dropped.delete(partition);
    clearTimeout(this.#pending.get(partition)?.timer);
    this.#pending.delete(partition);
  }

  /**
   * Calls `due` once the backoff for `attempt` consecutive failures has passed: `min`
   * doubled per failure, up to `max`.
   */
  schedule(partition: number, attempt: number, due: (restart: PendingRestart) => void): void {
    const restart: PendingRestart = { attempt, timer: undefined };
    restart.timer = setTimeout(
      () => due(restart),
      Math.min(this.#max, this.#min * 2 ** Math.min(attempt, 30)),
    );
    this.#pending.set(partition, restart);
  }

  /**
   * Whether `restart` is still the partition's pending one (a reassignment supersedes it);
   * if so it is no longer pending.
   */
  claim(partition: number, restart: PendingRestart): boolean {
    if (this.#pending.get(partition) !== restart) return false;
    this.#pending.delete(partition);
    return true;
  }

  /** The partition restarts here: it is no longer waiting. */
  restarting(partition: number): void {
    this.#dropped.delete(partition);
  }

  /** Where a starting partition reads again from when its state holds no position; taken once. */
  takeResumeAt(partition: number): bigint | undefined {
    const at = this.#resumeAt.get(partition);
    this.#resumeAt.delete(partition);
    return at;
  }

  /**
   * The failure count a task failure carries on from the `attempt` it started as: a task that
   * ran longer than the longest backoff failed afresh, so the backoff starts over.
   */
  attemptAfter(attempt: number, ranForMs: number): number {
    return ranForMs > this.#max ? 0 : attempt;
  }

  /** The runner stops: no restart fires any more. */
  cancelAll(): void {
    for (const restart of this.#pending.values()) clearTimeout(restart.timer);
    this.#pending.clear();
  }
}
