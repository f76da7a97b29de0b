import {
  MemorySagaStore,
  SagaRuntime,
  type SagaInstance,
  type SagaRuntimeOptions,
  type SagaStore,
} from 'causeway';
import { VirtualTime } from 'causeway/testing';

/**
 * An external service that honours idempotency keys, as a payment or inventory API does:
 * the first call with a key makes the effect, later calls with that key do nothing.
 */
export class EffectLedger {
  /** Every call, in order, including the duplicates the service ignored. */
  readonly calls: string[] = [];
  readonly effects = new Map<string, string>();

  apply(idempotencyKey: string, effect: string): void {
    this.calls.push(idempotencyKey);
    if (!this.effects.has(idempotencyKey)) this.effects.set(idempotencyKey, effect);
  }

  /** How many times each key was called. */
  callCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const key of this.calls) counts[key] = (counts[key] ?? 0) + 1;
    return counts;
  }
}

/**
 * A store as one process sees it: `sever()` makes every later call hang forever, the way a
 * process that was killed never gets another answer. The instance's state stays in the
 * shared store for the runtimes that are still alive.
 */
export function severable(store: SagaStore): { store: SagaStore; sever: () => void } {
  let severed = false;
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        severed
          ? new Promise(() => undefined)
          : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return { store: proxy, sever: () => (severed = true) };
}

/** A resolvable gate a step can wait on. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

export interface Setup {
  time: VirtualTime;
  store: MemorySagaStore;
  /** Errors runtimes reported in the background; a test that expects none checks it is empty. */
  errors: unknown[];
  runtime(options: Partial<SagaRuntimeOptions> & Pick<SagaRuntimeOptions, 'sagas'>): SagaRuntime;
}

/** Virtual time shared by the store (lease expiry) and runtimes (timestamps, every wait). */
export function setup(): Setup {
  const time = new VirtualTime();
  const store = new MemorySagaStore({ clock: time });
  const errors: unknown[] = [];
  return {
    time,
    store,
    errors,
    runtime: (options) =>
      new SagaRuntime({
        store,
        clock: time,
        sleep: time.sleep,
        random: () => 0.5,
        leaseTtlMs: 30_000,
        pollIntervalMs: 1_000,
        onError: (error) => errors.push(error),
        ...options,
      }),
  };
}

/**
 * A store whose calls answer after 0–3 turns of the event loop (seeded, so runs repeat):
 * two runtimes' reads and writes interleave the way they do over a network, and a
 * runtime's "free" candidate may be taken by the other before it tries to lease it.
 */
export function interleaved(store: SagaStore, seed = 42): SagaStore {
  let state = seed;
  const turns = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state % 4;
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        for (let i = turns(); i > 0; i--) await new Promise((resolve) => setImmediate(resolve));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/**
 * Writes an instance as a runtime `owner` left it (then died): running at `currentStep`,
 * unless `overrides` say otherwise. Its lease runs `ttlMs` from the store's now.
 */
export async function leftBehind(
  store: SagaStore,
  at: Date,
  overrides: Partial<SagaInstance> & Pick<SagaInstance, 'id' | 'name' | 'currentStep'>,
  owner = 'dead-runtime',
  ttlMs = 30_000,
): Promise<void> {
  await store.create(
    {
      status: 'running',
      attempt: 0,
      visits: overrides.currentStep ? { [overrides.currentStep]: 1 } : {},
      completedSteps: [],
      uncertainSteps: [],
      compensatedSteps: [],
      data: {},
      error: undefined,
      history: [],
      abortRequestedAt: undefined,
      createdAt: at,
      updatedAt: at,
      endedAt: undefined,
      ...overrides,
    },
    owner,
    ttlMs,
  );
}
