import type { Message } from '../messaging/message.js';
import type { MemoryOutboxStore } from '../messaging/outbox.js';
import { ProcessConflictError, TimerLeaseLostError } from './process-errors.js';
import { MemoryTimerStore, type TimerSchedule, type TimerStore } from './timer-store.js';

/** `completed` instances are kept (as tombstones) so a late event cannot start them again. */
export type ProcessStatus = 'active' | 'completed';

/** One process manager instance: the state of one correlation key. */
export interface ProcessInstance {
  /** The process manager's name. */
  manager: string;
  /** The correlation key, e.g. `order-42`. */
  key: string;
  status: ProcessStatus;
  /** The handlers' state, JSON. Dates come back as ISO strings. */
  state: unknown;
  /** 1 after the first message, +1 per message or timer applied. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | undefined;
}

/**
 * One transaction on a process store. Everything a process manager does for one message or
 * timer goes through it and commits (or rolls back) together: the processed-message record,
 * the instance's new state, the timers it schedules or cancels, the timer it fires and the
 * messages it emits (outbox rows). SQL stores run it in one database transaction; the memory
 * store stages the writes and applies them in one synchronous step.
 */
export interface ProcessTransaction {
  /**
   * Records that `consumer` processed `messageId`; `false` when it already had (a duplicate
   * delivery, or an event replayed after a checkpoint): the caller then writes nothing.
   */
  markProcessed(consumer: string, messageId: string): Promise<boolean>;
  /** Reads the instance and locks it until the transaction ends. */
  load(manager: string, key: string): Promise<ProcessInstance | undefined>;
  /**
   * Inserts (`version` 1) or updates (stored version `version - 1`) the instance; a stored
   * version that does not match throws `ProcessConflictError`.
   */
  save(instance: ProcessInstance): Promise<void>;
  /** Adds a timer, replacing the pending one of the same scope, key and name. */
  schedule(timer: TimerSchedule): Promise<void>;
  /** Deletes the named pending timer, or every pending timer of the owner when `name` is omitted. */
  cancel(scope: string, key: string, name?: string): Promise<void>;
  /**
   * Marks the timer fired if `owner` holds its unexpired lease and it is unfired; `false`
   * otherwise (then the caller writes nothing).
   */
  fire(timerId: string, owner: string, now: Date): Promise<boolean>;
  /** Adds messages to the outbox for `destination`; an `OutboxRelay` publishes them after commit. */
  emit(destination: string, messages: readonly Message[]): Promise<void>;
}

/** Where process managers keep instances, timers, processed-message records and outbox rows. */
export interface ProcessStore {
  /** The timers this store's transactions schedule; what a `TimerScheduler` claims from. */
  readonly timers: TimerStore;
  transaction<T>(work: (transaction: ProcessTransaction) => Promise<T>): Promise<T>;
  /** The instance as committed. */
  get(manager: string, key: string): Promise<ProcessInstance | undefined>;
}

export interface MemoryProcessStoreOptions {
  timers?: MemoryTimerStore;
  /** Where emitted messages go; without one, `emit` fails (nothing would publish them). */
  outbox?: MemoryOutboxStore;
}

/**
 * The in-memory process store: one process, so "one transaction" is one critical section.
 * Transactions run one at a time; their writes are staged and applied in one synchronous
 * step at the end, so a handler that throws leaves nothing behind, and a timer whose lease
 * was lost meanwhile aborts the whole transaction.
 */
export class MemoryProcessStore implements ProcessStore {
  readonly timers: MemoryTimerStore;
  readonly #outbox: MemoryOutboxStore | undefined;
  readonly #instances = new Map<string, string>();
  readonly #processed = new Set<string>();
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: MemoryProcessStoreOptions = {}) {
    this.timers = options.timers ?? new MemoryTimerStore();
    this.#outbox = options.outbox;
  }

  async get(manager: string, key: string): Promise<ProcessInstance | undefined> {
    const json = this.#instances.get(instanceKey(manager, key));
    return json === undefined ? undefined : revive(json);
  }

  transaction<T>(work: (transaction: ProcessTransaction) => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => this.#run(work));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #run<T>(work: (transaction: ProcessTransaction) => Promise<T>): Promise<T> {
    const processed = new Set<string>();
    const instances = new Map<string, string>();
    const timerOps: (() => void)[] = [];
    const fires: { id: string; owner: string; now: Date }[] = [];
    const emits: { destination: string; messages: readonly Message[] }[] = [];
    const outbox = this.#outbox;
    const timers = this.timers;
    const result = await work({
      markProcessed: async (consumer, messageId) => {
        const id = `${consumer}\u0000${messageId}`;
        if (this.#processed.has(id) || processed.has(id)) return false;
        processed.add(id);
        return true;
      },
      load: async (manager, key) => {
        const id = instanceKey(manager, key);
        const json = instances.get(id) ?? this.#instances.get(id);
        return json === undefined ? undefined : revive(json);
      },
      save: async (instance) => {
        const id = instanceKey(instance.manager, instance.key);
        const current = instances.get(id) ?? this.#instances.get(id);
        const stored = current === undefined ? 0 : revive(current).version;
        if (stored !== instance.version - 1)
          throw new ProcessConflictError(instance.manager, instance.key, instance.version - 1);
        instances.set(id, JSON.stringify(instance));
      },
      schedule: async (timer) => {
        const copy = structuredClone(timer);
        timerOps.push(() => timers.scheduleNow(copy, new Date()));
      },
      cancel: async (scope, key, name) => {
        timerOps.push(() => timers.cancelNow(scope, key, name));
      },
      fire: async (id, owner, now) => {
        if (!timers.holds(id, owner, now)) return false;
        fires.push({ id, owner, now });
        return true;
      },
      emit: async (destination, messages) => {
        if (!outbox)
          throw new Error(
            'MemoryProcessStore: emit needs the `outbox` option (a MemoryOutboxStore)',
          );
        emits.push({ destination, messages: [...messages] });
      },
    });
    // Commit: check, then apply, all synchronously, so nothing interleaves.
    for (const fire of fires) {
      if (!timers.holds(fire.id, fire.owner, fire.now))
        throw new TimerLeaseLostError(fire.id, fire.owner);
    }
    for (const fire of fires) timers.fireNow(fire.id, fire.owner, fire.now);
    for (const id of processed) this.#processed.add(id);
    for (const [id, json] of instances) this.#instances.set(id, json);
    for (const op of timerOps) op();
    for (const { destination, messages } of emits) outbox?.write(destination, messages);
    return result;
  }
}

function instanceKey(manager: string, key: string): string {
  return `${manager}\u0000${key}`;
}

function revive(json: string): ProcessInstance {
  const raw = JSON.parse(json) as Omit<
    ProcessInstance,
    'createdAt' | 'updatedAt' | 'completedAt'
  > & { createdAt: string; updatedAt: string; completedAt?: string };
  return {
    ...raw,
    createdAt: new Date(raw.createdAt),
    updatedAt: new Date(raw.updatedAt),
    completedAt: raw.completedAt === undefined ? undefined : new Date(raw.completedAt),
  };
}
