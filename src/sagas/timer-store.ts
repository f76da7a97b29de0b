/**
 * Durable timers: the `TimerStore` port and its in-memory reference.
 *
 * A timer is a row: who it belongs to (`scope` + `key`, e.g. a process manager's name and
 * an order id), its `name` (unique among the pending timers of one owner: scheduling a name
 * again replaces the pending timer), when it is due, a lease (`leaseOwner`,
 * `leaseExpiresAt`) taken by the scheduler that is firing it, and a `firedAt` marker.
 *
 * Firing once rests on two things. Claiming is atomic (PostgreSQL: `FOR UPDATE SKIP LOCKED`;
 * SQLite: an `UPDATE … RETURNING` inside `BEGIN IMMEDIATE`; memory: one synchronous step), so
 * two live schedulers never hold one timer. And marking fired is conditional on still holding
 * the lease and on the timer being unfired, in the same transaction as the firing's effects:
 * a scheduler killed after claiming leaves an unfired row whose lease runs out, the next
 * scheduler claims it, and a slow scheduler whose lease was taken over cannot mark it again.
 *
 * Times are milliseconds on the scheduler's clock (passed in as `now`), not the database's:
 * due times are computed on that same clock, and tests move it without sleeping.
 */

/** What scheduling a timer needs. */
export interface TimerSchedule {
  /** A fresh id per schedule (UUIDv7): a replaced timer's id never fires. */
  id: string;
  /** The owner kind, e.g. the process manager's name. */
  scope: string;
  /** The owner instance, e.g. the correlation key `order-42`. */
  key: string;
  /** Unique among one owner's pending timers: scheduling it again replaces the pending one. */
  name: string;
  dueAt: Date;
  /** JSON handed back when the timer fires. */
  payload?: unknown;
}

/** A stored timer. */
export interface TimerRecord extends TimerSchedule {
  payload: unknown;
  createdAt: Date;
  /** The scheduler firing it right now (or that died firing it). */
  leaseOwner: string | undefined;
  leaseExpiresAt: Date | undefined;
  /** Set once, in the transaction that delivered the firing. */
  firedAt: Date | undefined;
  /** Claims so far: more than one means a scheduler died or gave it back. */
  attempts: number;
}

/**
 * Where timers live. `schedule`/`cancel` here are for timers outside a process manager; a
 * process manager schedules through its store's transaction, so the timer commits with the
 * state change that asked for it.
 */
export interface TimerStore {
  /** Adds the timer, replacing a pending (unfired) timer of the same scope, key and name. */
  schedule(timer: TimerSchedule): Promise<void>;
  /** Deletes the pending timer; `true` if there was one. A claimed timer is deleted too. */
  cancel(scope: string, key: string, name: string): Promise<boolean>;
  /** The timer with this id, fired or not (until `cleanup` removes fired ones). */
  get(id: string): Promise<TimerRecord | undefined>;
  /** Pending timers of one owner, soonest first. */
  pending(scope: string, key: string): Promise<TimerRecord[]>;
  /**
   * Leases up to `limit` unfired timers with `dueAt <= now` whose lease is free or expired,
   * soonest first, to `owner` until `now + leaseMs`, atomically: two claims never return the
   * same timer while its lease lives. With `scopes`, only timers of those scopes: a scheduler
   * serving some process managers leaves other managers' timers to their own schedulers.
   */
  claimDue(
    owner: string,
    now: Date,
    limit: number,
    leaseMs: number,
    scopes?: readonly string[],
  ): Promise<TimerRecord[]>;
  /**
   * Marks the timer fired if `owner` holds its lease and it is unfired; `false` (and no
   * change) otherwise. For firings whose effects are not in the store's transaction.
   */
  markFired(id: string, owner: string, now: Date): Promise<boolean>;
  /** Gives a claimed timer back, due again at `retryAt` (the firing failed). */
  release(id: string, owner: string, retryAt: Date): Promise<void>;
  /** The earliest due time among unfired timers (of `scopes`), to sleep until; `undefined` if none. */
  nextDueAt(scopes?: readonly string[]): Promise<Date | undefined>;
  /** Deletes timers fired before `olderThan`; returns how many. */
  cleanup(olderThan: Date): Promise<number>;
  /**
   * Wakes a scheduler when a timer is scheduled (where the store can tell), with its due time
   * when the store knows it: a scheduler already waking up sooner need not look. `undefined`
   * means "something may have been scheduled": look now.
   */
  onSchedule?(listener: (dueAt?: Date) => void): () => void;
}

/**
 * The in-memory timer store: the reference the SQL stores are checked against (the
 * timer-store contract suite). Every method is one synchronous step, so claims are atomic.
 * Process managers on a `MemoryProcessStore` write to it inside the store's critical section.
 */
export class MemoryTimerStore implements TimerStore {
  readonly #timers = new Map<string, TimerRecord>();
  readonly #listeners = new Set<(dueAt?: Date) => void>();

  async schedule(timer: TimerSchedule): Promise<void> {
    this.scheduleNow(timer, new Date());
  }

  /** @internal The synchronous step a memory transaction commits with. */
  scheduleNow(timer: TimerSchedule, now: Date): void {
    this.cancelNow(timer.scope, timer.key, timer.name);
    this.#timers.set(timer.id, {
      id: timer.id,
      scope: timer.scope,
      key: timer.key,
      name: timer.name,
      dueAt: new Date(timer.dueAt),
      payload: structuredClone(timer.payload ?? null),
      createdAt: now,
      leaseOwner: undefined,
      leaseExpiresAt: undefined,
      firedAt: undefined,
      attempts: 0,
    });
    for (const listener of this.#listeners) listener(new Date(timer.dueAt));
  }

  async cancel(scope: string, key: string, name: string): Promise<boolean> {
    return this.cancelNow(scope, key, name);
  }

  /** @internal */
  cancelNow(scope: string, key: string, name: string | undefined): boolean {
    let found = false;
    for (const [id, timer] of this.#timers) {
      if (timer.firedAt || timer.scope !== scope || timer.key !== key) continue;
      if (name !== undefined && timer.name !== name) continue;
      this.#timers.delete(id);
      found = true;
    }
    return found;
  }

  async get(id: string): Promise<TimerRecord | undefined> {
    const timer = this.#timers.get(id);
    return timer && copy(timer);
  }

  async pending(scope: string, key: string): Promise<TimerRecord[]> {
    return sortByDue(
      [...this.#timers.values()].filter((t) => !t.firedAt && t.scope === scope && t.key === key),
    ).map(copy);
  }

  async claimDue(
    owner: string,
    now: Date,
    limit: number,
    leaseMs: number,
    scopes?: readonly string[],
  ): Promise<TimerRecord[]> {
    const due = sortByDue(
      [...this.#timers.values()].filter(
        (t) =>
          !t.firedAt &&
          (scopes === undefined || scopes.includes(t.scope)) &&
          t.dueAt <= now &&
          (t.leaseExpiresAt === undefined || t.leaseExpiresAt <= now),
      ),
    ).slice(0, limit);
    for (const timer of due) {
      timer.leaseOwner = owner;
      timer.leaseExpiresAt = new Date(now.getTime() + leaseMs);
      timer.attempts++;
    }
    return due.map(copy);
  }

  async markFired(id: string, owner: string, now: Date): Promise<boolean> {
    return this.fireNow(id, owner, now) !== undefined;
  }

  /** @internal Marks fired if `owner` holds the unexpired lease; returns the timer. */
  fireNow(id: string, owner: string, now: Date): TimerRecord | undefined {
    const timer = this.#timers.get(id);
    if (!timer || timer.firedAt || timer.leaseOwner !== owner) return undefined;
    if (!timer.leaseExpiresAt || timer.leaseExpiresAt <= now) return undefined;
    timer.firedAt = now;
    return copy(timer);
  }

  /** @internal Whether `owner` could fire it now (a memory transaction checks before it commits). */
  holds(id: string, owner: string, now: Date): boolean {
    const timer = this.#timers.get(id);
    return (
      timer !== undefined &&
      !timer.firedAt &&
      timer.leaseOwner === owner &&
      timer.leaseExpiresAt !== undefined &&
      timer.leaseExpiresAt > now
    );
  }

  async release(id: string, owner: string, retryAt: Date): Promise<void> {
    const timer = this.#timers.get(id);
    if (!timer || timer.firedAt || timer.leaseOwner !== owner) return;
    timer.leaseOwner = undefined;
    timer.leaseExpiresAt = undefined;
    timer.dueAt = new Date(retryAt);
  }

  async nextDueAt(scopes?: readonly string[]): Promise<Date | undefined> {
    return sortByDue(
      [...this.#timers.values()].filter(
        (t) => !t.firedAt && (scopes === undefined || scopes.includes(t.scope)),
      ),
    )[0]?.dueAt;
  }

  async cleanup(olderThan: Date): Promise<number> {
    let removed = 0;
    for (const [id, timer] of this.#timers) {
      if (timer.firedAt && timer.firedAt < olderThan) {
        this.#timers.delete(id);
        removed++;
      }
    }
    return removed;
  }

  onSchedule(listener: (dueAt?: Date) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** Soonest first, then by id: the order every store claims and lists timers in. */
export function compareTimers(a: TimerRecord, b: TimerRecord): number {
  return a.dueAt.getTime() - b.dueAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function sortByDue(timers: TimerRecord[]): TimerRecord[] {
  return timers.sort(compareTimers);
}

function copy(timer: TimerRecord): TimerRecord {
  return structuredClone(timer);
}
