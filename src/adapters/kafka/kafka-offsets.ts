/**
 * What one consumer knows about one partition it owns: which offsets it handed out and which
 * of those are still unsettled. Kafka commits a single position per partition ("everything
 * before this is done"), while the runtime settles messages of different keys out of order, so
 * the position we may commit is the lowest unsettled offset — never past an unfinished message.
 */
export class PartitionOffsets {
  /** Handed out and not settled (released ones stay here: they must be read again). */
  readonly #unsettled = new Set<bigint>();
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

  settle(offset: bigint): void {
    this.#unsettled.delete(offset);
  }

  /** The position to commit now, or `undefined` when it would not move the committed one. */
  commitPoint(): bigint | undefined {
    if (this.#next === undefined) return undefined;
    let point = this.#next;
    for (const offset of this.#unsettled) if (offset < point) point = offset;
    return this.#committed === undefined || point > this.#committed ? point : undefined;
  }

  committed(offset: bigint): void {
    if (this.#committed === undefined || offset > this.#committed) this.#committed = offset;
  }
}
