/**
 * Remembers the outcome of work done under an idempotency key (a command id, a message id),
 * so a replay returns the first result instead of doing the work again.
 */
export interface IdempotencyRecord {
  /** The result as JSON text. */
  result: string;
  completedAt: Date;
  expiresAt: Date | undefined;
}

export interface IdempotencyStore {
  get(key: string): Promise<IdempotencyRecord | undefined>;
  /** Records the result; the first record for a key wins. */
  put(key: string, result: string, options?: { ttlMs?: number }): Promise<void>;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #records = new Map<string, IdempotencyRecord>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    const record = this.#records.get(key);
    if (record?.expiresAt && record.expiresAt <= this.now()) {
      this.#records.delete(key);
      return undefined;
    }
    return record;
  }

  async put(key: string, result: string, options: { ttlMs?: number } = {}): Promise<void> {
    if (await this.get(key)) return;
    const completedAt = this.now();
    const expiresAt =
      options.ttlMs === undefined ? undefined : new Date(completedAt.getTime() + options.ttlMs);
    this.#records.set(key, { result, completedAt, expiresAt });
  }
}
