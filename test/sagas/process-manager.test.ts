import { describe, expect, it } from 'vitest';
import {
  defineProcessManager,
  MemoryProcessStore,
  ProcessManagerRuntime,
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
