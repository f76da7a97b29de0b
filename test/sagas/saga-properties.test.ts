import fc from 'fast-check';
import { expect, it } from 'vitest';
import {
  defineSaga,
  PermanentError,
  type SagaInstance,
  type SagaRuntime,
  type SagaStepDefinition,
} from 'causeway';
import { EffectLedger, setup, severable } from './fixtures.js';

/** What one attempt (execute or compensate) does, drawn in order from the generated plan. */
type Act = 'ok' | 'fail' | 'permanent' | 'crash';

const MAX_ATTEMPTS = 3;

/**
 * Random failures and crashes at every point of a saga's life — in steps, in compensations,
 * with runtimes dying mid-attempt and others taking over — and the guarantees still hold:
 * the saga settles, each effect happens once, compensations undo completed steps in reverse
 * order, nothing is left `started`, no attempt budget is exceeded.
 */
it('under random failures and crashes every saga settles with each effect once', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.array(fc.constantFrom<Act>('ok', 'ok', 'ok', 'fail', 'permanent', 'crash'), {
        minLength: 40,
        maxLength: 40,
      }),
      async (stepCount, plan) => {
        const { time, store, runtime, errors } = setup();
        const ledger = new EffectLedger();
        const effects: string[] = [];
        let next = 0;
        const act = (): Act => plan[next++ % plan.length]!;
        let running = 0;
        let overlaps = 0;
        let dying: ReturnType<typeof severable> | undefined;
        let died!: () => void;

        const perform = async (key: string, label: string): Promise<void> => {
          if (running > 0) overlaps++;
          running++;
          try {
            const what = act();
            if (what === 'fail') throw new Error(`${label} failed`);
            if (what === 'permanent') throw new PermanentError(`${label} refused`);
            if (!ledger.effects.has(key)) effects.push(label);
            ledger.apply(key, label);
            if (what === 'crash') {
              // The effect is made, then the process dies before recording the attempt.
              running--;
              dying!.sever();
              died();
              await new Promise(() => undefined);
            }
          } finally {
            running = Math.max(0, running - 1);
          }
        };
        const steps = Array.from({ length: stepCount }, (_, i): SagaStepDefinition<object> => ({
          name: `s${i}`,
          retry: { maxAttempts: MAX_ATTEMPTS, initialDelayMs: 10 },
          compensationRetry: { maxAttempts: MAX_ATTEMPTS, initialDelayMs: 10 },
          execute: (ctx) => perform(ctx.idempotencyKey, `do s${i}`),
          compensate: (ctx) => perform(ctx.idempotencyKey, `undo s${i}`),
        }));
        const saga = defineSaga<object>({ name: 'chaos', steps });

        const spawn = (generation: number): { rt: SagaRuntime; dead: Promise<'dead'> } => {
          dying = severable(store);
          const dead = new Promise<'dead'>((resolve) => (died = () => resolve('dead')));
          const rt = runtime({
            sagas: [saga],
            store: dying.store,
            owner: `runtime-${generation}`,
            leaseTtlMs: 1_000,
            pollIntervalMs: 100,
          });
          return { rt, dead };
        };

        let current = spawn(0);
        await current.rt.begin(saga, {}, { id: 'chaos-1' });
        let settled: SagaInstance;
        for (let generation = 1; ; generation++) {
          const outcome = await time.runUntil(
            Promise.race([current.rt.wait('chaos-1'), current.dead]),
          );
          if (outcome !== 'dead') {
            settled = outcome;
            break;
          }
          expect(generation).toBeLessThan(60);
          current = spawn(generation);
          await current.rt.start();
        }
        await time.runUntil(current.rt.stop());

        expect(errors).toEqual([]);
        expect(overlaps).toBe(0);
        expect(settled.history.some((a) => a.outcome === 'started')).toBe(false);
        // Each key's effect once, whatever the number of calls.
        expect(new Set(effects).size).toBe(effects.length);
        const done = effects.filter((e) => e.startsWith('do ')).map((e) => e.slice(3));
        const undone = effects.filter((e) => e.startsWith('undo ')).map((e) => e.slice(5));
        // Executions in order. Compensations newest first: the failed step itself when its
        // outcome is uncertain (an attempt crashed after making its effect), then the
        // completed steps in reverse.
        expect(done).toEqual(steps.slice(0, done.length).map((s) => s.name));
        expect(settled.completedSteps).toEqual(done.slice(0, settled.completedSteps.length));
        expect(done.length).toBeLessThanOrEqual(settled.completedSteps.length + 1);
        const order = [
          ...settled.uncertainSteps.map((u) => u.step),
          ...[...settled.completedSteps].reverse(),
        ];
        expect(undone).toEqual(order.slice(0, undone.length));
        // Per step and kind (one visit each here), never more attempts than allowed.
        const attempts = new Map<string, number>();
        for (const a of settled.history)
          attempts.set(
            `${a.kind} ${a.step}`,
            Math.max(attempts.get(`${a.kind} ${a.step}`) ?? 0, a.attempt),
          );
        expect(Math.max(...attempts.values())).toBeLessThanOrEqual(MAX_ATTEMPTS);

        switch (settled.status) {
          case 'completed':
            expect(done).toEqual(steps.map((s) => s.name));
            expect(undone).toEqual([]);
            break;
          case 'failed':
            expect(undone).toEqual(order);
            // No effect is left standing, not even one made by an attempt that crashed.
            expect([...undone].sort()).toEqual([...done].sort());
            expect(settled.error?.kind).toBe('execute');
            break;
          case 'compensation_failed':
            expect(settled.error?.kind).toBe('compensate');
            // The same holds for a compensation that undid, crashed, then kept failing.
            expect(undone.slice(0, settled.compensatedSteps.length)).toEqual(
              settled.compensatedSteps,
            );
            expect(undone.length).toBeLessThanOrEqual(settled.compensatedSteps.length + 1);
            break;
          default:
            throw new Error(`not settled: ${settled.status}`);
        }
      },
    ),
    { numRuns: 150 },
  );
});
