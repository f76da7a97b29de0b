import { describe, expect, it } from 'vitest';
import {
  defineProcessManager,
  ManualClock,
  MemoryProcessStore,
  MemoryTimerStore,
  newId,
  ProcessManagerRuntime,
  TimerScheduler,
  ValidationError,
} from 'causeway';
import { processManagerContract } from '../contracts/process-manager.contract.js';
import { timerStoreContract } from '../contracts/timer-store.contract.js';
import { memoryProcessHarness } from './memory-process-harness.js';

timerStoreContract(memoryProcessHarness());
processManagerContract(memoryProcessHarness());

describe('defineProcessManager', () => {
  const correlate = { A: () => 'k' };
  it('refuses a correlated type without a handler, a handler without correlation, and unknown startedBy', () => {
    const error = (() => {
      try {
        defineProcessManager({
          name: 'bad',
          correlate: { ...correlate, B: () => 'k' },
          initialState: {},
          handlers: { A: (s) => s, C: (s) => s },
          startedBy: ['D'],
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path.join('.'))).toEqual([
      'handlers.B',
      'correlate.C',
      'startedBy.D',
    ]);
  });

  it('gives every instance its own copy of the initial state', () => {
    const manager = defineProcessManager({
      name: 'ok',
      correlate,
      initialState: { items: [] as string[] },
      handlers: { A: (s) => s },
    });
    const first = manager.initialState('a');
    first.items.push('x');
    expect(manager.initialState('b')).toEqual({ items: [] });
    expect([...manager.startedBy]).toEqual(['A']);
    expect(manager.unknownInstance).toBe('ignore');
  });

  it('refuses two managers of one name in a runtime', () => {
    const manager = defineProcessManager({
      name: 'x',
      correlate,
      initialState: {},
      handlers: { A: (s) => s },
    });
    expect(
      () =>
        new ProcessManagerRuntime({
          store: new MemoryProcessStore(),
          managers: [manager, manager],
        }),
    ).toThrow(ValidationError);
  });
});

describe('TimerScheduler.stop', () => {
  it('gives back the timers it claimed but did not fire, due as before', async () => {
    const timers = new MemoryTimerStore();
    const due = new Date(Date.UTC(2026, 0, 1));
    for (const key of ['a', 'b', 'c'])
      await timers.schedule({ id: newId(), scope: 's', key, name: 't', dueAt: due });
    const clock = new ManualClock(due.getTime());
    let stopping: Promise<void> | undefined;
    const scheduler = new TimerScheduler({
      store: timers,
      clock,
      owner: 'stopping',
      fire: async (timer, owner, now) => {
        stopping = scheduler.stop();
        return timers.markFired(timer.id, owner, now);
      },
    });
    expect(await scheduler.runDue()).toBe(1);
    await stopping;
    // The other two are free at once: another scheduler claims them without waiting a lease.
    const taken = await timers.claimDue('next', clock.now(), 10, 1_000);
    expect(taken.map((t) => [t.key, t.dueAt.getTime(), t.attempts])).toEqual([
      ['b', due.getTime(), 2],
      ['c', due.getTime(), 2],
    ]);
  });
});
