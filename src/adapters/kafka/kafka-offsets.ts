/**
 * What one consumer knows about one partition it owns: which offsets it handed out and which
 * of those are still unsettled. Kafka commits a single position per partition ("everything
 * before this is done"), while the runtime settles messages of different keys out of order, so
 * the position we may commit is the lowest unsettled offset — never past an unfinished message.
 */
export class PartitionOffsets {
  /** Handed out and not settled (released ones stay here: they must be read again). */
  readonly #unsettled = new Set<bigint>();
  /** Settled but not yet covered by a commit: handled, yet a crash now would deliver them again. */
  readonly #uncommitted = new Set<bigint>();
  /** The offset after the last one handed out: a re-fetch below it is a duplicate. */
  #next: bigint | undefined;
  #committed: bigint | undefined;
  /** The partition was taken away (rebalance) or the reader was replaced: settling no longer commits. */
  revoked = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /**
   * Whether to hand this offset out. After a rebalance or a reconnect the client fetches again
   * from the committed position; what this process already handed out (settled, or still with
   * a handler) must not be handed out twice.
   */
  admit(offset: bigint): boolean {
    if (this.revoked || (this.#next !== undefined && offset < this.#next)) return false;
    this.#unsettled.add(offset);
    this.#next = offset + 1n;
    return true;
  }

  /** Returns whether the offset now waits for a commit (not when the partition was revoked). */
  settle(offset: bigint): boolean {
    this.#unsettled.delete(offset);
    if (this.revoked) return false;
    this.#uncommitted.add(offset);
    return true;
  }

  /** The partition was taken away: its settled offsets will not be committed here. Returns how many. */
  revoke(): number {
    this.revoked = true;
    const count = this.#uncommitted.size;
    this.#uncommitted.clear();
    return count;
  }

  /** The position to commit now, or `undefined` when it would not move the committed one. */
  commitPoint(): bigint | undefined {
    if (this.#next === undefined) return undefined;
    let point = this.#next;
    for (const offset of this.#unsettled) if (offset < point) point = offset;
    return this.#committed === undefined || point > this.#committed ? point : undefined;
  }

  /** Records a commit; returns how many settled offsets it covered. */
  committed(offset: bigint): number {
    if (this.#committed === undefined || offset > this.#committed) this.#committed = offset;
    let covered = 0;
    for (const settled of this.#uncommitted) {
      if (settled >= offset) continue;
      this.#uncommitted.delete(settled);
      covered++;
    }
    return covered;
  }
}
