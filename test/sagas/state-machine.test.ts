import { describe, expect, it } from 'vitest';
import { defineStateMachine, type SagaInstance } from 'causeway';
import { EffectLedger, setup, severable } from './fixtures.js';

interface Shipment {
  orderId: string;
  declined?: boolean;
  trackingId?: string;
  attemptsToPack?: number;
}

function fulfilment(ledger: EffectLedger, log: string[], crash?: () => Promise<void>) {
  return defineStateMachine<Shipment>({
    name: 'fulfilment',
    initial: 'reserving',
    states: {
      reserving: {
        onEnter: (ctx) => ledger.apply(ctx.idempotencyKey, 'reserve'),
        compensate: (ctx) => {
          log.push('release stock');
          ledger.apply(ctx.idempotencyKey, 'release');
        },
        on: { success: 'charging' },
      },
      charging: {
        onEnter: async (ctx) => {
          ledger.apply(ctx.idempotencyKey, 'charge');
          await crash?.();
          if (ctx.data.declined) throw new Error('card declined');
        },
        compensate: () => void log.push('refund'),
        // An attempt cut short by a crash counts: with 1 attempt, a crash would decline.
        retry: { maxAttempts: 2, initialDelayMs: 10 },
        on: { success: 'shipping', failure: 'declined' },
      },
      shipping: {
        onEnter: (ctx) => ({ trackingId: `t-${ctx.data.orderId}` }),
        on: { success: 'delivered' },
      },
      delivered: {},
      declined: {
        onEnter: () => void log.push('email customer'),
        final: 'failed',
      },
    },
  });
}

const path = (instance: SagaInstance) =>
  instance.history.map((a) => `${a.kind} ${a.step} ${a.outcome}`);

describe('state-machine sagas', () => {
  it('follows success transitions to a final state, persisting after each one', async () => {
    const { time, runtime, store } = setup();
    const ledger = new EffectLedger();
    const saga = fulfilment(ledger, []);
    const versions: number[] = [];
    const rt = runtime({
      sagas: [saga],
      store: new Proxy(store, {
        get: (target, property, receiver) =>
          property === 'save'
            ? async (...args: Parameters<typeof store.save>) => {
                const saved = await target.save(...args);
                versions.push(saved.version);
                return saved;
              }
            : (Reflect.get(target, property, receiver) as () => unknown).bind(target),
      }),
    });
    const done = await time.runUntil(rt.run(saga, { orderId: 'o-1' }, { id: 'm-1' }));
    expect(done).toMatchObject({
      status: 'completed',
      completedSteps: ['reserving', 'charging', 'shipping', 'delivered'],
      data: { orderId: 'o-1', trackingId: 't-o-1' },
    });
    // delivered has no onEnter: it completes without an attempt.
    expect(path(done)).toEqual([
      'execute reserving succeeded',
      'execute charging succeeded',
      'execute shipping succeeded',
    ]);
    // Each attempt is written when it starts and when it ends (with its transition).
    expect(versions).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect([...ledger.effects.keys()]).toEqual(['m-1:reserving:execute', 'm-1:charging:execute']);
  });

  it('a failure target is followed; a failed final state compensates the states entered, in reverse', async () => {
    const { time, runtime } = setup();
    const log: string[] = [];
    const saga = fulfilment(new EffectLedger(), log);
    const rt = runtime({ sagas: [saga] });
    const done = await time.runUntil(
      rt.run(saga, { orderId: 'o-2', declined: true }, { id: 'm-2' }),
    );
    expect(log).toEqual(['email customer', 'release stock']);
    expect(done).toMatchObject({
      status: 'failed',
      completedSteps: ['reserving', 'declined'],
      compensatedSteps: ['declined', 'reserving'],
      error: { step: 'charging', kind: 'execute', message: 'card declined' },
    });
  });

  it('without a failure target a failing state compensates at once', async () => {
    const { time, runtime } = setup();
    const log: string[] = [];
    const saga = defineStateMachine<{ n: number }>({
      name: 'plain',
      initial: 'one',
      states: {
        one: {
          onEnter: () => undefined,
          compensate: () => void log.push('undo one'),
          on: { success: 'two' },
        },
        two: {
          retry: { maxAttempts: 2 },
          onEnter: () => {
            throw new Error('boom');
          },
          on: { success: 'end' },
        },
        end: {},
      },
    });
    const done = await time.runUntil(runtime({ sagas: [saga] }).run(saga, { n: 1 }));
    expect(done.status).toBe('failed');
    expect(log).toEqual(['undo one']);
    expect(path(done)).toEqual([
      'execute one succeeded',
      'execute two failed',
      'execute two failed',
      'compensate one succeeded',
    ]);
  });

  it('recovers after a crash mid-state like an orchestrated saga: the effect happens once', async () => {
    const { time, store, runtime } = setup();
    const ledger = new EffectLedger();
    const dying = severable(store);
    let crashes = 1;
    const crash = async () => {
      if (crashes-- > 0) {
        dying.sever();
        await new Promise(() => undefined);
      }
    };
    const first = runtime({ sagas: [fulfilment(ledger, [], crash)], store: dying.store });
    await first.begin('fulfilment', { orderId: 'o-3' }, { id: 'm-3' });
    await time.advance(0);
    const saga = fulfilment(ledger, []);
    const second = runtime({ sagas: [saga] });
    await second.start();
    const done = await time.runUntil(second.wait('m-3'));
    expect(done.status).toBe('completed');
    expect(path(done)).toEqual([
      'execute reserving succeeded',
      'execute charging interrupted',
      'execute charging succeeded',
      'execute shipping succeeded',
    ]);
    expect(ledger.callCounts()).toEqual({ 'm-3:reserving:execute': 1, 'm-3:charging:execute': 2 });
    expect([...ledger.effects.values()]).toEqual(['reserve', 'charge']);
    await time.runUntil(second.stop());
  });

  it('a state entered again gets a new idempotency key per visit', async () => {
    const { time, runtime } = setup();
    const keys: string[] = [];
    const saga = defineStateMachine<Shipment>({
      name: 'packing',
      initial: 'pack',
      states: {
        pack: {
          onEnter: (ctx) => {
            keys.push(ctx.idempotencyKey);
            const attemptsToPack = (ctx.data.attemptsToPack ?? 0) + 1;
            if (attemptsToPack < 3) return { attemptsToPack };
            throw new Error('done packing');
          },
          on: { success: 'check', failure: 'ship' },
        },
        check: { on: { success: 'pack' } },
        ship: {},
      },
    });
    const done = await time.runUntil(
      runtime({ sagas: [saga] }).run(saga, { orderId: 'x' }, { id: 'p' }),
    );
    expect(done.status).toBe('completed');
    expect(keys.slice(0, 3)).toEqual(['p:pack:execute', 'p:pack:execute:2', 'p:pack:execute:3']);
    expect(done.visits).toMatchObject({ pack: 3, check: 2, ship: 1 });
  });

  it('rejects transitions to unknown states', () => {
    expect(() =>
      defineStateMachine({
        name: 'broken',
        initial: 'nowhere',
        states: { a: { on: { success: 'b' } } },
      }),
    ).toThrow(/initial: "nowhere" is not a state; states\.a\.on\.success: "b" is not a state/);
  });
});
