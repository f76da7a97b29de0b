import { describe, expect, it } from 'vitest';
import {
  defineSaga,
  isCausewayError,
  PermanentError,
  SerializationError,
  TimeoutError,
  type SagaInstance,
  type SagaStepDefinition,
} from 'causeway';
import { EffectLedger, setup } from './fixtures.js';

interface Order {
  orderId: string;
  amount: number;
  reservationId?: string;
  paymentId?: string;
}

/** Three steps against an idempotent ledger; `fail` makes a step throw on every attempt. */
function orderSaga(ledger: EffectLedger, log: string[], fail: Partial<Record<string, Error>> = {}) {
  const step = (name: string, patch: Partial<Order> = {}): SagaStepDefinition<Order> => ({
    name,
    retry: { maxAttempts: 2, initialDelayMs: 100 },
    execute: (ctx) => {
      log.push(`execute ${name} #${ctx.attempt}`);
      const error = fail[name];
      if (error) throw error;
      ledger.apply(ctx.idempotencyKey, `${name} ${ctx.data.orderId}`);
      return patch;
    },
    compensate: (ctx) => {
      log.push(`compensate ${name}`);
      ledger.apply(ctx.idempotencyKey, `undo ${name} ${ctx.data.orderId}`);
    },
  });
  return defineSaga<Order>({
    name: 'order',
    steps: [
      step('reserve', { reservationId: 'r-1' }),
      step('charge', { paymentId: 'p-1' }),
      step('ship'),
    ],
  });
}

const outcomes = (instance: SagaInstance) =>
  instance.history.map((a) => `${a.kind} ${a.step} #${a.attempt} ${a.outcome}`);

describe('SagaRuntime: orchestrated sagas', () => {
  it('runs every step in order, persisting before the first step and after each one', async () => {
    const { time, store, runtime, errors } = setup();
    const ledger = new EffectLedger();
    const seenByFirstStep: (SagaInstance | undefined)[] = [];
    const saga = defineSaga<Order>({
      name: 'order',
      steps: [
        {
          name: 'reserve',
          execute: async (ctx) => {
            seenByFirstStep.push(await store.get(ctx.sagaId));
            ledger.apply(ctx.idempotencyKey, 'reserve');
            ctx.data.reservationId = 'r-9'; // mutating the copy is persisted too
          },
        },
        { name: 'charge', execute: () => ({ paymentId: 'p-9' }) },
        // Not a plain object: ignored (a careless `() => list.push(x)` must not replace data).
        { name: 'audit', execute: () => [1, 2] as unknown as Partial<Order> },
      ],
    });
    const rt = runtime({ sagas: [saga] });
    const done = await time.runUntil(rt.run(saga, { orderId: 'o-1', amount: 30 }, { id: 's-1' }));

    expect(seenByFirstStep[0]).toMatchObject({
      id: 's-1',
      status: 'running',
      currentStep: 'reserve',
      history: [{ step: 'reserve', kind: 'execute', attempt: 1, outcome: 'started' }],
    });
    expect(done).toMatchObject({
      status: 'completed',
      currentStep: undefined,
      completedSteps: ['reserve', 'charge', 'audit'],
      data: { orderId: 'o-1', amount: 30, reservationId: 'r-9', paymentId: 'p-9' },
      error: undefined,
    });
    expect(done.endedAt).toEqual(time.now());
    expect(outcomes(done)).toEqual([
      'execute reserve #1 succeeded',
      'execute charge #1 succeeded',
      'execute audit #1 succeeded',
    ]);
    expect(done.history[0]?.idempotencyKey).toBe('s-1:reserve:execute');
    expect(done.leaseOwner).toBeUndefined(); // released once settled
    expect(errors).toEqual([]);
  });

  it('a failure at step 3 compensates step 2, then step 1, and ends failed', async () => {
    const { time, runtime } = setup();
    const ledger = new EffectLedger();
    const log: string[] = [];
    const saga = orderSaga(ledger, log, { ship: new Error('carrier down') });
    const rt = runtime({ sagas: [saga] });
    const done = await time.runUntil(rt.run(saga, { orderId: 'o-2', amount: 10 }, { id: 's-2' }));

    expect(log).toEqual([
      'execute reserve #1',
      'execute charge #1',
      'execute ship #1',
      'execute ship #2',
      'compensate charge',
      'compensate reserve',
    ]);
    expect(done).toMatchObject({
      status: 'failed',
      completedSteps: ['reserve', 'charge'],
      compensatedSteps: ['charge', 'reserve'],
      error: { step: 'ship', kind: 'execute', name: 'Error', message: 'carrier down' },
    });
    expect([...ledger.effects.entries()]).toEqual([
      ['s-2:reserve:execute', 'reserve o-2'],
      ['s-2:charge:execute', 'charge o-2'],
      ['s-2:charge:compensate', 'undo charge o-2'],
      ['s-2:reserve:compensate', 'undo reserve o-2'],
    ]);
  });

  it('a compensation that keeps failing ends compensation_failed, visible with its history', async () => {
    const { time, runtime } = setup();
    const log: string[] = [];
    const saga = defineSaga<Order>({
      name: 'order',
      steps: [
        {
          name: 'reserve',
          execute: () => undefined,
          compensate: () => void log.push('undo reserve'),
        },
        {
          name: 'charge',
          execute: () => undefined,
          compensate: () => {
            throw new Error('refund API down');
          },
          compensationRetry: { maxAttempts: 3, initialDelayMs: 1_000 },
        },
        {
          name: 'ship',
          execute: () => {
            throw new PermanentError('address rejected');
          },
        },
      ],
    });
    const rt = runtime({ sagas: [saga] });
    const done = await time.runUntil(rt.run(saga, { orderId: 'o-3', amount: 1 }, { id: 's-3' }));

    expect(done.status).toBe('compensation_failed');
    expect(done.currentStep).toBe('charge');
    expect(done.error).toEqual({
      step: 'charge',
      kind: 'compensate',
      name: 'Error',
      message: 'refund API down',
    });
    // The step before it is not compensated behind the operator's back: order matters.
    expect(log).toEqual([]);
    expect(done.compensatedSteps).toEqual([]);
    expect(outcomes(done)).toEqual([
      'execute reserve #1 succeeded',
      'execute charge #1 succeeded',
      'execute ship #1 failed', // PermanentError: no retry
      'compensate charge #1 failed',
      'compensate charge #2 failed',
      'compensate charge #3 failed',
    ]);
    expect(done.history.at(-1)?.error).toEqual({ name: 'Error', message: 'refund API down' });
    expect((await rt.list({ status: 'compensation_failed' })).map((i) => i.id)).toEqual(['s-3']);
    // Backoff between compensation attempts: full jitter (random 0.5) of 1 s, then 2 s.
    expect(time.requested).toEqual(expect.arrayContaining([500, 1_000]));
  });

  it('retries a failing step with backoff and the same idempotency key on every attempt', async () => {
    const { time, runtime } = setup();
    const keys: string[] = [];
    const startedAt: number[] = [];
    const saga = defineSaga<Order>({
      name: 'order',
      steps: [
        {
          name: 'charge',
          retry: { maxAttempts: 4, initialDelayMs: 200, factor: 3 },
          execute: (ctx) => {
            keys.push(ctx.idempotencyKey);
            startedAt.push(time.now().getTime());
            if (ctx.attempt < 3) throw new Error(`gateway 503 (${ctx.attempt})`);
            return { paymentId: `p-${ctx.attempt}` };
          },
        },
      ],
    });
    const rt = runtime({ sagas: [saga] });
    const done = await time.runUntil(rt.run(saga, { orderId: 'o-4', amount: 5 }, { id: 's-4' }));

    expect(done.status).toBe('completed');
    expect(done.data).toMatchObject({ paymentId: 'p-3' });
    expect(keys).toEqual(['s-4:charge:execute', 's-4:charge:execute', 's-4:charge:execute']);
    expect(done.history.map((a) => a.idempotencyKey)).toEqual(keys);
    expect(outcomes(done)).toEqual([
      'execute charge #1 failed',
      'execute charge #2 failed',
      'execute charge #3 succeeded',
    ]);
    // Full jitter with random() = 0.5: half of 200 ms, then half of 600 ms.
    expect(startedAt.slice(1).map((t, i) => t - startedAt[i]!)).toEqual([100, 300]);
  });

  it('a step that times out fails: its signal is aborted with a TimeoutError, then it is retried', async () => {
    const { time, runtime } = setup();
    const reasons: unknown[] = [];
    const saga = defineSaga<Order>({
      name: 'order',
      steps: [
        {
          name: 'reserve',
          execute: () => undefined,
          compensate: () => undefined,
        },
        {
          name: 'charge',
          timeoutMs: 5_000,
          retry: { maxAttempts: 2 },
          execute: (ctx) =>
            new Promise<void>((_, reject) =>
              ctx.signal.addEventListener('abort', () => {
                reasons.push(ctx.signal.reason);
                reject(new Error('request cancelled'));
              }),
            ),
        },
      ],
    });
    const rt = runtime({ sagas: [saga] });
    const started = time.now().getTime();
    const done = await time.runUntil(rt.run(saga, { orderId: 'o-5', amount: 5 }, { id: 's-5' }));

    expect(reasons).toHaveLength(2);
    expect(reasons.every((r) => r instanceof TimeoutError)).toBe(true);
    expect(outcomes(done)).toEqual([
      'execute reserve #1 succeeded',
      'execute charge #1 timed_out',
      'execute charge #2 timed_out',
      'compensate reserve #1 succeeded',
    ]);
    expect(done).toMatchObject({
      status: 'failed',
      error: { step: 'charge', kind: 'execute', code: 'TIMEOUT' },
    });
    // Two 5 s timeouts and one 50 ms backoff (half of the 100 ms default), nothing more.
    expect(time.now().getTime() - started).toBe(10_050);
  });

  it('a PermanentError skips the remaining attempts', async () => {
    const { time, runtime } = setup();
    let calls = 0;
    const saga = defineSaga<Order>({
      name: 'order',
      steps: [
        {
          name: 'charge',
          retry: { maxAttempts: 5 },
          execute: () => {
            calls++;
            throw new PermanentError('card declined');
          },
        },
      ],
    });
    const rt = runtime({ sagas: [saga] });
    const done = await time.runUntil(rt.run(saga, { orderId: 'o-6', amount: 5 }));
    expect(calls).toBe(1);
    expect(done.error).toMatchObject({ code: 'PERMANENT_FAILURE', message: 'card declined' });
    expect(done.status).toBe('failed');
  });

  it('rejects data that is not JSON before persisting anything, and fails a step that produces such data', async () => {
    const { time, store, runtime } = setup();
    const saga = defineSaga<{ at?: unknown }>({
      name: 'bad-data',
      steps: [{ name: 'one', retry: { maxAttempts: 3 }, execute: () => ({ at: new Map() }) }],
    });
    const rt = runtime({ sagas: [saga] });
    await expect(rt.begin(saga, { at: () => 1 }, { id: 'never' })).rejects.toBeInstanceOf(
      SerializationError,
    );
    expect(await store.get('never')).toBeUndefined();

    const done = await time.runUntil(rt.run(saga, {}, { id: 'bad' }));
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ step: 'one', code: 'SERIALIZATION' });
    expect(done.history).toHaveLength(1); // the same code gives the same data: no retry
  });

  it('starting twice with the same id starts once', async () => {
    const { time, runtime } = setup();
    const ledger = new EffectLedger();
    const log: string[] = [];
    const saga = orderSaga(ledger, log);
    const rt = runtime({ sagas: [saga] });
    const [a, b] = await Promise.all([
      rt.begin(saga, { orderId: 'o-7', amount: 1 }, { id: 'order-o-7' }),
      rt.begin(saga, { orderId: 'o-7', amount: 1 }, { id: 'order-o-7' }),
    ]);
    expect(a).toBe('order-o-7');
    expect(b).toBe('order-o-7');
    const done = await time.runUntil(rt.wait('order-o-7'));
    expect(done.status).toBe('completed');
    expect(log.filter((line) => line.startsWith('execute reserve'))).toHaveLength(1);
  });

  it('refuses sagas it does not know and invalid definitions, with typed errors', async () => {
    const { runtime } = setup();
    const known = orderSaga(new EffectLedger(), []);
    const rt = runtime({ sagas: [known] });
    const other = defineSaga({ name: 'other', steps: [{ name: 'a', execute: () => undefined }] });
    await expect(rt.begin(other, {})).rejects.toSatisfy(
      (e) => isCausewayError(e) && e.code === 'VALIDATION',
    );
    expect(() =>
      defineSaga({
        name: 'dup',
        steps: [
          { name: 'a', execute: () => undefined },
          { name: 'a', execute: () => undefined, timeoutMs: -1 },
        ],
      }),
    ).toThrow(
      /steps\[1\]\.name: "a" is used twice; steps\[1\]\.timeoutMs: must be a positive number/,
    );
    expect(() => defineSaga({ name: 'has space', steps: [] })).toThrow(/name: must match/);
  });
});
