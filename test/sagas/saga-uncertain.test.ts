import { describe, expect, it } from 'vitest';
import {
  defineSaga,
  defineStateMachine,
  PermanentError,
  TimeoutError,
  type SagaInstance,
  type SagaStepContext,
} from 'causeway';
import { setup, severable } from './fixtures.js';

interface Order {
  orderId: string;
}

/**
 * A payments service behind a queue: a charge is queued with its key and processed when the
 * service comes back (`drain`), whether or not the caller still waits. A refund is queued
 * behind the charges of the same order and refunds only an actual charge, once.
 */
class QueuedPayments {
  readonly queue: { kind: 'charge' | 'refund'; key: string; orderId: string }[] = [];
  readonly charged = new Map<string, string>(); // key → orderId
  readonly refunded = new Set<string>(); // orderId
  readonly log: string[] = [];

  send(kind: 'charge' | 'refund', ctx: SagaStepContext<Order>): void {
    this.queue.push({ kind, key: ctx.idempotencyKey, orderId: ctx.data.orderId });
  }

  drain(): void {
    for (const command of this.queue.splice(0)) {
      if (command.kind === 'charge') {
        if (this.refunded.has(command.orderId)) continue; // refund seen first: never charge
        if (!this.charged.has(command.key)) this.charged.set(command.key, command.orderId);
        continue;
      }
      const charge = [...this.charged.values()].includes(command.orderId);
      if (this.refunded.has(command.orderId)) continue;
      this.refunded.add(command.orderId);
      this.log.push(charge ? `refund ${command.orderId}` : `nothing to refund ${command.orderId}`);
    }
  }

  /** Charges not refunded: money the customer lost. */
  owed(): string[] {
    return [...this.charged.values()].filter((orderId) => !this.refunded.has(orderId));
  }
}

const never = (signal: AbortSignal) =>
  new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
  );

const attempts = (instance: SagaInstance) =>
  instance.history.map((a) => `${a.kind} ${a.step} #${a.attempt} ${a.outcome}`);

/** reserve → charge (the payments service is down: every attempt times out) → ship. */
function checkout(payments: QueuedPayments, log: string[], charge: Partial<{ opt: boolean }> = {}) {
  return defineSaga<Order>({
    name: 'checkout',
    steps: [
      {
        name: 'reserve',
        execute: () => undefined,
        compensate: (ctx) => void log.push(`release ${ctx.idempotencyKey} ${ctx.uncertain}`),
      },
      {
        name: 'charge',
        timeoutMs: 5_000,
        retry: { maxAttempts: 3, initialDelayMs: 100 },
        ...(charge.opt === undefined ? {} : { compensateUncertain: charge.opt }),
        execute: (ctx) => {
          payments.send('charge', ctx);
          return never(ctx.signal);
        },
        compensate: (ctx) => {
          log.push(`refund ${ctx.idempotencyKey} ${ctx.uncertain}`);
          payments.send('refund', ctx);
        },
      },
      { name: 'ship', execute: () => undefined },
    ],
  });
}

describe('SagaRuntime: a step whose outcome is uncertain is compensated too', () => {
  it('a step that timed out on every attempt is compensated first, with its compensation key; the late charge is refunded', async () => {
    const { time, runtime, errors } = setup();
    const payments = new QueuedPayments();
    const log: string[] = [];
    const saga = checkout(payments, log);
    const done = await time.runUntil(
      runtime({ sagas: [saga] }).run(saga, { orderId: 'o-1' }, { id: 'c-1' }),
    );

    expect(log).toEqual([
      'refund c-1:charge:compensate true',
      'release c-1:reserve:compensate false',
    ]);
    expect(attempts(done)).toEqual([
      'execute reserve #1 succeeded',
      'execute charge #1 timed_out',
      'execute charge #2 timed_out',
      'execute charge #3 timed_out',
      'compensate charge #1 succeeded',
      'compensate reserve #1 succeeded',
    ]);
    expect(done).toMatchObject({
      status: 'failed',
      completedSteps: ['reserve'],
      uncertainSteps: [{ step: 'charge', after: 1, attempt: 3, outcome: 'timed_out' }],
      compensatedSteps: ['charge', 'reserve'],
      error: { step: 'charge', code: 'TIMEOUT' },
    });
    // The service comes back: the three queued charges (one key) charge once, the refund
    // queued behind them undoes it. Without compensating `charge`, the customer would pay.
    payments.drain();
    expect(payments.charged.size).toBe(1);
    expect(payments.log).toEqual(['refund o-1']);
    expect(payments.owed()).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('a TimeoutError the step throws itself (a request/reply wait that gave up) is uncertain too', async () => {
    const { time, runtime } = setup();
    const log: string[] = [];
    const saga = defineSaga<Order>({
      name: 'rpc',
      steps: [
        {
          name: 'charge',
          retry: { maxAttempts: 1 },
          execute: () => {
            throw new TimeoutError('no reply within 2000 ms');
          },
          compensate: (ctx) => void log.push(`refund ${ctx.uncertain}`),
        },
      ],
    });
    const done = await time.runUntil(runtime({ sagas: [saga] }).run(saga, { orderId: 'o-2' }));
    expect(log).toEqual(['refund true']);
    expect(done.uncertainSteps).toEqual([
      { step: 'charge', after: 0, attempt: 1, outcome: 'timed_out' },
    ]);
  });

  it('a definite failure (the step threw on every attempt) is not compensated', async () => {
    const { time, runtime } = setup();
    const log: string[] = [];
    const step = (name: string, error?: Error) => ({
      name,
      retry: { maxAttempts: 2, initialDelayMs: 10 },
      execute: () => {
        if (error) throw error;
      },
      compensate: () => void log.push(`undo ${name}`),
    });
    const declined = defineSaga<Order>({
      name: 'declined',
      steps: [step('reserve'), step('charge', new PermanentError('card declined'))],
    });
    const broken = defineSaga<Order>({
      name: 'broken',
      steps: [step('reserve'), step('charge', new Error('HTTP 400: bad card number'))],
    });
    const rt = runtime({ sagas: [declined, broken] });
    for (const saga of [declined, broken]) {
      const done = await time.runUntil(rt.run(saga, { orderId: saga.name }));
      expect(done).toMatchObject({
        status: 'failed',
        uncertainSteps: [],
        compensatedSteps: ['reserve'],
      });
    }
    expect(log).toEqual(['undo reserve', 'undo reserve']);
  });

  it('an earlier timed-out attempt makes the step uncertain even when its last attempt failed definitively', async () => {
    const { time, runtime } = setup();
    const log: string[] = [];
    const saga = defineSaga<Order>({
      name: 'flaky',
      steps: [
        {
          name: 'charge',
          timeoutMs: 1_000,
          retry: { maxAttempts: 2, initialDelayMs: 10 },
          // The first request is queued at a slow service; the second is refused outright.
          execute: (ctx) => {
            if (ctx.attempt === 1) return never(ctx.signal);
            throw new PermanentError('gateway refused the retry');
          },
          compensate: () => void log.push('refund'),
        },
      ],
    });
    const done = await time.runUntil(runtime({ sagas: [saga] }).run(saga, { orderId: 'o-3' }));
    expect(attempts(done)).toEqual([
      'execute charge #1 timed_out',
      'execute charge #2 failed',
      'compensate charge #1 succeeded',
    ]);
    expect(done.uncertainSteps).toEqual([
      { step: 'charge', after: 0, attempt: 1, outcome: 'timed_out' },
    ]);
    expect(log).toEqual(['refund']);
  });

  it('compensateUncertain: false opts a step out', async () => {
    const { time, runtime } = setup();
    const payments = new QueuedPayments();
    const log: string[] = [];
    const saga = checkout(payments, log, { opt: false });
    const done = await time.runUntil(runtime({ sagas: [saga] }).run(saga, { orderId: 'o-4' }));
    expect(log).toEqual([`release ${done.id}:reserve:compensate false`]);
    expect(done).toMatchObject({ uncertainSteps: [], compensatedSteps: ['reserve'] });
  });

  it('a step interrupted by a crash on its last attempt is compensated by the runtime that takes over', async () => {
    const { time, store, runtime } = setup();
    const log: string[] = [];
    const saga = (execute: () => Promise<void>) =>
      defineSaga<Order>({
        name: 'crashy',
        steps: [
          { name: 'reserve', execute: () => undefined, compensate: () => void log.push('release') },
          {
            name: 'charge',
            retry: { maxAttempts: 1 },
            execute,
            compensate: (ctx) => void log.push(`refund ${ctx.idempotencyKey} ${ctx.uncertain}`),
          },
        ],
      });
    const dying = severable(store);
    const first = runtime({
      store: dying.store,
      owner: 'first',
      sagas: [
        saga(async () => {
          dying.sever(); // the process dies while the charge request is in flight
          await new Promise(() => undefined);
        }),
      ],
    });
    await first.begin('crashy', { orderId: 'o-5' }, { id: 'k-1' });
    await time.advance(0);

    const survivor = runtime({ owner: 'second', sagas: [saga(() => Promise.resolve())] });
    await survivor.start();
    const done = await time.runUntil(survivor.wait('k-1'));
    expect(log).toEqual(['refund k-1:charge:compensate true', 'release']);
    expect(done).toMatchObject({
      status: 'failed',
      error: { step: 'charge', name: 'Interrupted' },
      uncertainSteps: [{ step: 'charge', after: 1, attempt: 1, outcome: 'interrupted' }],
      compensatedSteps: ['charge', 'reserve'],
    });
    await time.runUntil(survivor.stop());
  });

  it('state machines: an uncertain state that took its failure target is compensated in its place when the machine fails', async () => {
    const { time, runtime } = setup();
    const log: string[] = [];
    const machine = defineStateMachine<Order>({
      name: 'machine',
      initial: 'reserving',
      states: {
        reserving: {
          onEnter: () => undefined,
          compensate: () => void log.push('release'),
          on: { success: 'charging' },
        },
        charging: {
          timeoutMs: 1_000,
          retry: { maxAttempts: 1 },
          onEnter: (ctx) => never(ctx.signal),
          compensate: (ctx) => void log.push(`refund ${ctx.idempotencyKey} ${ctx.uncertain}`),
          on: { success: 'done', failure: 'notifying' },
        },
        notifying: {
          onEnter: () => void log.push('email customer'),
          compensate: () => void log.push('retract email'),
          on: { success: 'cancelled' },
        },
        cancelled: { final: 'failed' },
        done: {},
      },
    });
    const done = await time.runUntil(
      runtime({ sagas: [machine] }).run(machine, { orderId: 'o-6' }),
    );
    // Undone in reverse order of entry: notifying, then charging (uncertain), then reserving.
    expect(log).toEqual([
      'email customer',
      'retract email',
      `refund ${done.id}:charging:compensate true`,
      'release',
    ]);
    expect(done).toMatchObject({
      status: 'failed',
      completedSteps: ['reserving', 'notifying', 'cancelled'],
      uncertainSteps: [{ step: 'charging', after: 1, attempt: 1, outcome: 'timed_out' }],
      compensatedSteps: ['cancelled', 'notifying', 'charging', 'reserving'],
    });
  });
});
