import { describe, expect, it } from 'vitest';
import { defineSaga, SagaAbortedError, SagaNotFoundError, SagaStateError } from 'causeway';
import { EffectLedger, gate, leftBehind, setup } from './fixtures.js';

interface Booking {
  trip: string;
}

/** flight → hotel → car; `hotel` blocks until its signal aborts (a long call to a slow API). */
function bookingSaga(ledger: EffectLedger, log: string[], compensation: { broken: boolean }) {
  return defineSaga<Booking>({
    name: 'booking',
    steps: [
      {
        name: 'flight',
        execute: (ctx) => ledger.apply(ctx.idempotencyKey, 'book flight'),
        compensate: (ctx) => {
          if (compensation.broken) throw new Error('airline API down');
          log.push('cancel flight');
          ledger.apply(ctx.idempotencyKey, 'cancel flight');
        },
        compensationRetry: { maxAttempts: 2 },
      },
      {
        name: 'hotel',
        execute: (ctx) =>
          new Promise<void>((_, reject) =>
            ctx.signal.addEventListener('abort', () => {
              log.push(`hotel stopped: ${(ctx.signal.reason as Error).name}`);
              reject(ctx.signal.reason);
            }),
          ),
        compensate: () => void log.push('cancel hotel'),
      },
      { name: 'car', execute: () => undefined },
    ],
  });
}

describe('SagaRuntime: operator operations', () => {
  it('abort stops the running step (its signal aborts) and compensates the completed steps', async () => {
    const { time, runtime, errors } = setup();
    const ledger = new EffectLedger();
    const log: string[] = [];
    const saga = bookingSaga(ledger, log, { broken: false });
    const rt = runtime({ sagas: [saga] });
    await rt.begin(saga, { trip: 'lisbon' }, { id: 'b-1' });
    await time.advance(0);
    expect((await rt.get('b-1'))?.currentStep).toBe('hotel');

    const requested = await rt.abort('b-1');
    expect(requested.abortRequestedAt).toEqual(time.now());
    const done = await time.runUntil(rt.wait('b-1'));

    // The hotel request was cut short, not refused: it may have booked, so it is cancelled too.
    expect(log).toEqual(['hotel stopped: SagaAbortedError', 'cancel hotel', 'cancel flight']);
    expect(done).toMatchObject({
      status: 'failed',
      completedSteps: ['flight'],
      uncertainSteps: [{ step: 'hotel', after: 1, attempt: 1, outcome: 'aborted' }],
      compensatedSteps: ['hotel', 'flight'],
      error: { step: 'hotel', kind: 'execute', code: 'SAGA_ABORTED' },
    });
    expect(done.history.map((a) => `${a.kind} ${a.step} ${a.outcome}`)).toEqual([
      'execute flight succeeded',
      'execute hotel aborted',
      'compensate hotel succeeded',
      'compensate flight succeeded',
    ]);
    expect(errors).toEqual([]);
  });

  it('abort from another runtime reaches the driving runtime through the store', async () => {
    const { time, runtime } = setup();
    const log: string[] = [];
    const saga = bookingSaga(new EffectLedger(), log, { broken: false });
    const driving = runtime({ sagas: [saga], owner: 'driving', leaseTtlMs: 3_000 });
    const operator = runtime({ sagas: [saga], owner: 'operator' });
    await driving.begin(saga, { trip: 'porto' }, { id: 'b-2' });
    await time.advance(0);

    await operator.abort('b-2'); // the lease is held: only the request is recorded
    expect(log).toEqual([]);
    await time.advance(1_000); // the driving runtime's heartbeat (ttl / 3) reads it
    expect(log).toEqual(['hotel stopped: SagaAbortedError', 'cancel hotel', 'cancel flight']);
    const done = await time.runUntil(operator.wait('b-2'));
    expect(done.status).toBe('failed');
    expect(done.history.every((a) => a.outcome !== 'started')).toBe(true);
  });

  it('resume retries a failed compensation from where it failed', async () => {
    const { time, runtime } = setup();
    const ledger = new EffectLedger();
    const log: string[] = [];
    const compensation = { broken: true };
    const saga = bookingSaga(ledger, log, compensation);
    const rt = runtime({ sagas: [saga] });
    await rt.begin(saga, { trip: 'faro' }, { id: 'b-3' });
    await time.advance(0);
    await rt.abort('b-3');
    const stuck = await time.runUntil(rt.wait('b-3'));
    expect(stuck).toMatchObject({
      status: 'compensation_failed',
      error: { step: 'flight', kind: 'compensate', message: 'airline API down' },
    });

    compensation.broken = false; // the operator fixed the airline integration
    const resumed = await rt.resume('b-3');
    expect(resumed.status).toBe('compensating');
    const done = await time.runUntil(rt.wait('b-3'));
    expect(done.status).toBe('failed');
    expect(log).toEqual(['hotel stopped: SagaAbortedError', 'cancel hotel', 'cancel flight']);
    expect(
      done.history
        .filter((a) => a.kind === 'compensate')
        .map((a) => `${a.step} ${a.attempt} ${a.outcome}`),
    ).toEqual(['hotel 1 succeeded', 'flight 1 failed', 'flight 2 failed', 'flight 1 succeeded']);
    // Same key before and after the operator stepped in: the refund is made once.
    expect(ledger.callCounts()['b-3:flight:compensate']).toBe(1);
    expect(
      new Set(done.history.filter((a) => a.kind === 'compensate').map((a) => a.idempotencyKey)),
    ).toEqual(new Set(['b-3:hotel:compensate', 'b-3:flight:compensate']));
  });

  it('list filters by status and name; unknown ids and settled instances get typed errors', async () => {
    const { time, runtime } = setup();
    const hold = gate();
    const quick = defineSaga({ name: 'quick', steps: [{ name: 'a', execute: () => undefined }] });
    const slow = defineSaga<object>({
      name: 'slow',
      steps: [{ name: 'a', execute: () => hold.wait }],
    });
    const rt = runtime({ sagas: [quick, slow] });
    await time.runUntil(rt.run(quick, {}, { id: 'q-1' }));
    await time.runUntil(rt.run(quick, {}, { id: 'q-2' }));
    await rt.begin(slow, {}, { id: 's-1' });
    await time.advance(0);

    expect((await rt.list({ status: 'completed' })).map((i) => i.id)).toEqual(['q-1', 'q-2']);
    expect(
      (await rt.list({ status: ['running', 'completed'], name: 'slow' })).map((i) => i.id),
    ).toEqual(['s-1']);
    expect((await rt.list({ limit: 1, after: 'q-1' })).map((i) => i.id)).toEqual(['q-2']);
    await expect(rt.resume('nope')).rejects.toBeInstanceOf(SagaNotFoundError);
    await expect(rt.abort('q-1')).rejects.toBeInstanceOf(SagaStateError);
    await expect(rt.resume('q-1')).rejects.toMatchObject({ code: 'SAGA_INVALID_STATE' });
    hold.open();
    await time.runUntil(rt.wait('s-1'));
  });

  it('the abort reason is a typed error with a stable code', () => {
    const error = new SagaAbortedError('x');
    expect(error.code).toBe('SAGA_ABORTED');
    expect(error.toJSON()).toMatchObject({ code: 'SAGA_ABORTED', name: 'SagaAbortedError' });
  });
});

describe('SagaRuntime: definitions that changed under running instances', () => {
  it('a completed step missing from the definition stops compensation visibly', async () => {
    const { time, store, runtime } = setup();
    await leftBehind(
      store,
      time.now(),
      {
        id: 'old',
        name: 'renamed',
        status: 'compensating',
        currentStep: undefined,
        completedSteps: ['reserve-v1', 'charge'],
        compensatedSteps: ['charge'],
        error: { step: 'ship', kind: 'execute', name: 'Error', message: 'no' },
      },
      'dead',
      0,
    );
    const saga = defineSaga<object>({
      name: 'renamed',
      steps: [
        { name: 'reserve-v2', execute: () => undefined, compensate: () => undefined },
        { name: 'charge', execute: () => undefined },
      ],
    });
    const rt = runtime({ sagas: [saga] });
    await rt.start();
    const done = await time.runUntil(rt.wait('old'));
    expect(done).toMatchObject({
      status: 'compensation_failed',
      currentStep: 'reserve-v1',
      error: { step: 'reserve-v1', kind: 'compensate', name: 'ValidationError' },
    });
    await time.runUntil(rt.stop());
    await expect(rt.begin(saga, {})).rejects.toMatchObject({ code: 'VALIDATION' });
    await expect(rt.start()).rejects.toMatchObject({ code: 'VALIDATION' });
  });
});
