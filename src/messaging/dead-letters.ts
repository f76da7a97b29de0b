import type { FailureInfo } from './message.js';
import type { WireMessage } from './binary-codec.js';

/** A message that no retry could handle, kept with everything needed to understand and replay it. */
export interface DeadLetter {
  /** Stable id of this dead letter (for `show` and `retry`). */
  id: string;
  /** The original message id (kept on retry, so an inbox downstream de-duplicates). */
  messageId: string | undefined;
  destination: string;
  group: string;
  /** The message exactly as it travelled (CloudEvents binary mode). */
  message: WireMessage;
  failure: FailureInfo;
  deadLetteredAt: Date;
}

export interface DeadLetterQuery {
  destination?: string;
  /** Only letters dead-lettered at or after this time. */
  since?: Date;
  /** Only letters whose error class or message contains this text. */
  error?: string;
  /** Resume after this dead-letter id (letters are listed oldest first). */
  after?: string;
  limit?: number;
}

/**
 * Where a transport keeps its dead letters. `retry` sends the letter back to its destination
 * for its group (first attempt again) and removes it in one step where the backend allows; if
 * it cannot be atomic it re-publishes first and keeps the message id, so the worst case is a
 * duplicate delivery that an inbox removes — never a lost message.
 */
export interface DeadLetterStore {
  list(query?: DeadLetterQuery): Promise<DeadLetter[]>;
  get(id: string): Promise<DeadLetter | undefined>;
  count(query?: Omit<DeadLetterQuery, 'after' | 'limit'>): Promise<number>;
  retry(id: string): Promise<boolean>;
  /** Removes matching letters; returns how many. */
  purge(query: { destination?: string; olderThan?: Date }): Promise<number>;
}

export interface DeadLetterManagerOptions {
  /** Called when a destination's dead letters reach the threshold. Default threshold 100. */
  onThreshold?: (alert: {
    destination: string;
    count: number;
    threshold: number;
  }) => void | Promise<void>;
  threshold?: number;
}

/** The operator's view of dead letters: list, inspect, retry one or all (paged, with progress), purge. */
export class DeadLetterManager {
  readonly #alerted = new Set<string>();

  constructor(
    private readonly store: DeadLetterStore,
    private readonly options: DeadLetterManagerOptions = {},
  ) {}

  list(query?: DeadLetterQuery): Promise<DeadLetter[]> {
    return this.store.list(query);
  }

  show(id: string): Promise<DeadLetter | undefined> {
    return this.store.get(id);
  }

  count(query?: Omit<DeadLetterQuery, 'after' | 'limit'>): Promise<number> {
    return this.store.count(query);
  }

  retry(id: string): Promise<boolean> {
    return this.store.retry(id);
  }

  /**
   * Retries every matching letter, a page at a time (never all in memory), reporting progress.
   * Letters that fail again come back as new letters; they are not retried twice in one run.
   */
  async retryAll(
    query: Omit<DeadLetterQuery, 'after' | 'limit'> = {},
    onProgress?: (progress: { done: number; total: number }) => void,
  ): Promise<number> {
    const total = await this.store.count(query);
    const startedAt = new Date();
    let done = 0;
    let after: string | undefined;
    for (;;) {
      const page = await this.store.list({
        ...query,
        limit: 100,
        ...(after === undefined ? {} : { after }),
      });
      const eligible = page.filter((letter) => letter.deadLetteredAt <= startedAt);
      for (const letter of eligible) {
        if (await this.store.retry(letter.id)) done++;
        onProgress?.({ done, total });
      }
      if (page.length < 100 || eligible.length < page.length) return done;
      after = page.at(-1)!.id;
    }
  }

  purge(query: { destination?: string; olderThan?: Date }): Promise<number> {
    return this.store.purge(query);
  }

  /** Checks a destination against the alert threshold; alerts once per crossing. */
  async checkThreshold(destination: string): Promise<void> {
    const threshold = this.options.threshold ?? 100;
    const count = await this.store.count({ destination });
    if (count < threshold) {
      this.#alerted.delete(destination);
      return;
    }
    if (this.#alerted.has(destination)) return;
    this.#alerted.add(destination);
    await this.options.onThreshold?.({ destination, count, threshold });
  }
}

/** Applies a query to letters held in memory (the reference semantics for SQL `WHERE`s). */
export function matchesQuery(
  letter: DeadLetter,
  query: Omit<DeadLetterQuery, 'after' | 'limit'>,
): boolean {
  if (query.destination !== undefined && letter.destination !== query.destination) return false;
  if (query.since !== undefined && letter.deadLetteredAt < query.since) return false;
  if (query.error !== undefined) {
    const text = `${letter.failure.errorClass} ${letter.failure.errorMessage}`.toLowerCase();
    if (!text.includes(query.error.toLowerCase())) return false;
  }
  return true;
}

/**
 * Orders letters oldest first (ties by `compareIds`) and applies `after` and `limit`: the
 * listing of stores that read a destination's letters whole (broker streams).
 */
export function pageDeadLetters(
  letters: DeadLetter[],
  query: Pick<DeadLetterQuery, 'after' | 'limit'>,
  compareIds: (a: string, b: string) => number,
): DeadLetter[] {
  letters.sort(
    (a, b) => a.deadLetteredAt.getTime() - b.deadLetteredAt.getTime() || compareIds(a.id, b.id),
  );
  const start = query.after === undefined ? 0 : letters.findIndex((l) => l.id === query.after) + 1;
  return letters.slice(start, query.limit === undefined ? undefined : start + query.limit);
}

/** Reads a `FailureInfo` stored as JSON back, with its dates. */
export function failureFromJson(json: string): FailureInfo {
  const parsed = JSON.parse(json) as Omit<FailureInfo, 'firstFailureAt' | 'lastFailureAt'> & {
    firstFailureAt: string;
    lastFailureAt: string;
  };
  return {
    ...parsed,
    firstFailureAt: new Date(parsed.firstFailureAt),
    lastFailureAt: new Date(parsed.lastFailureAt),
  };
}

/**
 * The failure of a message redelivered past a broker's limit without ever being settled: its
 * handler crashes the process (or outlives the broker's lease) every time, so no retry policy
 * ever saw it fail.
 */
export function redeliveryLimitFailure(
  delivery: { attempt: number; firstFailureAt: Date | undefined },
  destination: string,
  group: string,
  why: string,
): FailureInfo {
  const now = new Date();
  return {
    reason: 'max_attempts',
    errorClass: 'MaxDeliveriesExceeded',
    errorMessage: `Delivered ${delivery.attempt} times without being settled (${why})`,
    errorStack: undefined,
    attempts: delivery.attempt,
    firstFailureAt: delivery.firstFailureAt ?? now,
    lastFailureAt: now,
    destination,
    group,
  };
}
