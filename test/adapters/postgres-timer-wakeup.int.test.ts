import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { markFiredAfter, newId, TimerScheduler, type TimerRecord } from 'causeway';
import {
  createPostgresProcessStore,
  createPostgresTimerStore,
  type PostgresTimerStore,
} from 'causeway/postgres';
import { postgresSchemas, postgresUrl } from './fixtures/postgres-messaging-harness.js';

const schemas = postgresSchemas();
afterAll(() => schemas.drop());

/** A poll so long that a firing within the test's time can only come from a wake-up. */
const POLL_MS = 120_000;

describe('PostgreSQL timers: LISTEN/NOTIFY wakes schedulers in other processes', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** A store as another process would open it: its own pool and LISTEN connection. */
  async function open(schema: string): Promise<PostgresTimerStore> {
    const store = await createPostgresTimerStore({ connectionString: postgresUrl, schema });
    closers.push(() => store.close());
    return store;
  }

  /**
   * A scheduler on `store` (already listening, so its start causes no reconnect wake-up),
   * counting its claim rounds, resolving `idle` once its first round has looked.
   */
  async function scheduler(store: PostgresTimerStore) {
    const unlisten = store.onSchedule(() => undefined);
    await store.listening();
    const fired: { timer: TimerRecord; rounds: number; at: number }[] = [];
    let rounds = 0;
    let waiter: { count: number; resolve: () => void } | undefined;
    let idle!: () => void;
    const firstIdle = new Promise<void>((resolve) => (idle = resolve));
    const counted = new Proxy(store, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        const call = (...args: unknown[]) =>
          (value as (...a: unknown[]) => unknown).apply(target, args);
        if (property !== 'claimDue' && property !== 'nextDueAt') return call;
        return async (...args: unknown[]) => {
          if (property === 'claimDue') rounds++;
          const result: unknown = await call(...args);
          if (property === 'nextDueAt') idle();
          return result;
        };
      },
    });
    const running = new TimerScheduler({
      store: counted,
      pollIntervalMs: POLL_MS,
      fire: markFiredAfter(store, async (timer) => {
        fired.push({ timer, rounds, at: Date.now() });
        if (waiter && fired.length >= waiter.count) waiter.resolve();
      }),
    });
    running.start();
    closers.push(async () => {
      await running.stop();
      unlisten();
    });
    await firstIdle;
    return {
      fired,
      rounds: () => rounds,
      /** Resolves once `count` timers have fired in all. */
      firedAll: (count: number) => new Promise<void>((resolve) => (waiter = { count, resolve })),
    };
  }

  const timer = (name: string, dueAt: Date) => ({
    id: newId(),
    scope: 'reminders',
    key: 'order-1',
    name,
    dueAt,
  });

  it('a timer scheduled in another process fires at its due time, not at the next poll', async () => {
    const schema = schemas.next();
    const local = await open(schema);
    const remote = await open(schema);
    const { fired, firedAll } = await scheduler(local);
    const firing = firedAll(1);
    const scheduledAt = Date.now();
    await remote.schedule(timer('nudge', new Date(scheduledAt + 300)));
    await firing;
    expect(fired).toHaveLength(1);
    expect(fired[0]!.timer.name).toBe('nudge');
    expect(fired[0]!.at - scheduledAt).toBeGreaterThanOrEqual(300);
    expect(fired[0]!.at - scheduledAt).toBeLessThan(POLL_MS / 4);
  });

  it("a process store's transaction announces its timers on commit", async () => {
    const schema = schemas.next();
    const local = await open(schema);
    const remote = await createPostgresProcessStore({ connectionString: postgresUrl, schema });
    closers.push(() => remote.close());
    const { fired, firedAll } = await scheduler(local);
    const firing = firedAll(1);
    await remote.transaction(async (transaction) => {
      await transaction.schedule(timer('from-transaction', new Date()));
    });
    await firing;
    expect(fired.map((f) => f.timer.name)).toEqual(['from-transaction']);
  });

  it("announces each schedule's due time to listeners in other processes", async () => {
    const schema = schemas.next();
    const local = await open(schema);
    const remote = await open(schema);
    const heard: (Date | undefined)[] = [];
    let waiter: (() => void) | undefined;
    const unlisten = local.onSchedule((dueAt) => {
      heard.push(dueAt);
      waiter?.();
    });
    closers.push(async () => unlisten());
    await local.listening();
    heard.length = 0; // the connect itself announces "look now" (no time)
    const dueAt = new Date(Date.now() + 7 * 86_400_000);
    const arrived = new Promise<void>((resolve) => (waiter = resolve));
    await remote.schedule(timer('next-week', dueAt));
    await arrived;
    expect(heard).toEqual([dueAt]);
  });

  it('with notifyOnSchedule off, other processes are found by the poll only', async () => {
    const schema = schemas.next();
    const local = await open(schema);
    const quiet = await createPostgresTimerStore({
      connectionString: postgresUrl,
      schema,
      notifyOnSchedule: false,
    });
    closers.push(() => quiet.close());
    const { fired, firedAll } = await scheduler(local);
    const firing = firedAll(2);
    // Had the quiet schedule announced itself, it would fire in a round of its own.
    await quiet.schedule(timer('silent', new Date(Date.now() - 1)));
    await local.schedule(timer('announced', new Date()));
    await firing;
    expect(fired.map((f) => [f.timer.name, f.rounds])).toEqual([
      ['silent', 2],
      ['announced', 2],
    ]);
  });
});
