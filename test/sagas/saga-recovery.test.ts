import { describe, expect, it } from 'vitest';
import { defineSaga, MemorySagaStore, SagaRuntime, type SagaStepDefinition } from 'causeway';
import { VirtualTime } from 'causeway/testing';
import { EffectLedger, gate, interleaved, leftBehind, setup, severable } from './fixtures.js';

interface Transfer {
  from: string;
  to: string;
  amount: number;
}

const ttl = 30_000;

describe('SagaRuntime: crash recovery and leases', () => {
  it('a runtime dropped mid-step is taken over after its lease expires; every effect happens once', async () => {
    const { time, store, runtime, errors } = setup();
    const ledger = new EffectLedger();
    const runs: string[] = [];
    const crashed = severable(store);
    let crashOnce = true;
    const step = (name: string): SagaStepDefinition<Transfer> => ({
      name,
      execute: async (ctx) => {
        runs.push(`${name} #${ctx.attempt}`);
        ledger.apply(ctx.idempotencyKey, `${name} ${ctx.data.amount}`);
        if (name === 'credit' && crashOnce) {
          // The effect is made, then the process dies before it can record the step.
          crashOnce = false;
          crashed.sever();
          await new Promise(() => undefined);
        }
      },
    });
    const transfer = defineSaga<Transfer>({
      name: 'transfer',
      steps: [step('debit'), step('credit'), step('notify')],
    });

    const first = runtime({ sagas: [transfer], store: crashed.store, owner: 'runtime-a' });
    await first.begin(transfer, { from: 'a', to: 'b', amount: 7 }, { id: 't-1' });
    await time.advance(0);
    expect(await store.get('t-1')).toMatchObject({
      status: 'running',
      currentStep: 'credit',
      leaseOwner: 'runtime-a',
      history: [{ outcome: 'succeeded' }, { step: 'credit', outcome: 'started' }],
    });

    const second = runtime({ sagas: [transfer], owner: 'runtime-b' });
    await second.start();
    // Runtime A's lease still runs: nobody takes the instance yet.
    expect((await store.get('t-1'))?.leaseOwner).toBe('runtime-a');
    const done = await time.runUntil(second.wait('t-1'));

    expect(done.status).toBe('completed');
    expect(done.leaseOwner).toBeUndefined();
    expect(done.history.map((a) => `${a.step} #${a.attempt} ${a.outcome}`)).toEqual([
      'debit #1 succeeded',
      'credit #1 interrupted',
      'credit #2 succeeded',
      'notify #1 succeeded',
    ]);
    // Taken over only once the lease ran out (A wrote last at the start of its attempt).
    expect(done.history[2]!.startedAt.getTime() - done.history[1]!.startedAt.getTime()).toBe(ttl);
    expect(runs).toEqual(['debit #1', 'credit #1', 'credit #2', 'notify #1']);
    expect(ledger.callCounts()).toEqual({
      't-1:debit:execute': 1,
      't-1:credit:execute': 2,
      't-1:notify:execute': 1,
    });
    expect([...ledger.effects.values()]).toEqual(['debit 7', 'credit 7', 'notify 7']);
    await time.runUntil(second.stop());
    expect(errors).toEqual([]);
  });

  it('start() resumes running and compensating instances from their last persisted step', async () => {
    const time = new VirtualTime();
    const store = new MemorySagaStore({ clock: time });
    const log: string[] = [];
    const saga = defineSaga<{ n: number }>({
      name: 'resumable',
      steps: ['one', 'two', 'three'].map((name) => ({
        name,
        execute: (ctx) => {
          log.push(`${ctx.sagaId} ${name}`);
          if (ctx.sagaId === 'fails' && name === 'three') throw new Error('no');
        },
        compensate: (ctx) => void log.push(`${ctx.sagaId} undo ${name}`),
        retry: { maxAttempts: 1 },
      })),
    });
    // What a crashed runtime left behind: one instance after step one, one mid-compensation.
    await leftBehind(store, time.now(), {
      id: 'running',
      name: 'resumable',
      currentStep: 'two',
      completedSteps: ['one'],
      visits: { one: 1, two: 1 },
    });
    await leftBehind(store, time.now(), {
      id: 'compensating',
      name: 'resumable',
      status: 'compensating',
      currentStep: undefined,
      completedSteps: ['one', 'two'],
      compensatedSteps: ['two'],
      error: { step: 'three', kind: 'execute', name: 'Error', message: 'no' },
    });
    await time.advance(ttl);
    const runtime = new SagaRuntime({ store, sagas: [saga], clock: time, sleep: time.sleep });
    await runtime.start();
    const [running, compensating] = await time.runUntil(
      Promise.all([runtime.wait('running'), runtime.wait('compensating')]),
    );
    expect(running.status).toBe('completed');
    expect(compensating.status).toBe('failed');
    expect(compensating.compensatedSteps).toEqual(['two', 'one']);
    expect(log.sort()).toEqual(['compensating undo one', 'running three', 'running two']);
    await time.runUntil(runtime.stop());
  });

  it('two runtimes never drive one instance at the same time', async () => {
    const { time, runtime, store, errors } = setup();
    const active = new Map<string, string>();
    const overlaps: string[] = [];
    const drivers = new Map<string, Set<string>>();
    let tick = 0;
    const step = (name: string): SagaStepDefinition<{ owner?: string }> => ({
      name,
      retry: { maxAttempts: 3, initialDelayMs: 50 },
      execute: async (ctx) => {
        const lease = (await store.get(ctx.sagaId))?.leaseOwner ?? '?';
        if (active.has(ctx.sagaId))
          overlaps.push(`${ctx.sagaId}: ${active.get(ctx.sagaId)} and ${lease}`);
        active.set(ctx.sagaId, lease);
        drivers.set(ctx.sagaId, (drivers.get(ctx.sagaId) ?? new Set()).add(lease));
        await time.sleep(10 + (tick++ % 7) * 5);
        active.delete(ctx.sagaId);
        if (tick % 5 === 0 && ctx.attempt === 1) throw new Error('flaky'); // retried, also by the other runtime
      },
    });
    const saga = defineSaga({ name: 'busy', steps: [step('a'), step('b'), step('c')] });
    // Small claim batches, so both runtimes compete for the orphans on every poll.
    const options = { sagas: [saga], leaseTtlMs: 200, pollIntervalMs: 20, claimBatchSize: 2 };
    const a = runtime({ ...options, owner: 'a', store: interleaved(store, 1) });
    const b = runtime({ ...options, owner: 'b', store: interleaved(store, 2) });
    const ids = Array.from({ length: 30 }, (_, i) => `s-${String(i).padStart(2, '0')}`);
    // Half started on A; the other half are left ownerless, as a dead runtime leaves them.
    for (const id of ids.slice(0, 15)) await a.begin(saga, {}, { id });
    for (const id of ids.slice(15))
      await leftBehind(store, time.now(), { id, name: 'busy', currentStep: 'a' }, 'dead', 200);
    await Promise.all([a.start(), b.start()]);
    const done = await time.runUntil(Promise.all(ids.map((id) => a.wait(id))));
    expect(done.filter((i) => i.status !== 'completed')).toEqual([]);
    expect(overlaps).toEqual([]);
    // Both runtimes did real work (B took over the dead runtime's instances).
    const owners = new Set([...drivers.values()].flatMap((set) => [...set]));
    expect(owners).toEqual(new Set(['a', 'b']));
    await time.runUntil(Promise.all([a.stop(), b.stop()]));
    expect(errors).toEqual([]);
  });

  it('a runtime that lost its lease writes nothing more and runs no further step', async () => {
    // The store's clock can jump past the lease while runtime A is stuck in a step: the
    // situation of a process paused (GC, VM migration) for longer than its lease.
    const time = new VirtualTime();
    const storeClock = new VirtualTime(time.now());
    const store = new MemorySagaStore({ clock: storeClock });
    const stuck = gate();
    const runs: string[] = [];
    const saga = defineSaga({
      name: 'fenced',
      steps: [
        {
          name: 'one',
          execute: async (ctx) => {
            runs.push(`one by ${(await store.get(ctx.sagaId))?.leaseOwner}`);
            if (runs.length === 1) await stuck.wait;
          },
        },
        { name: 'two', execute: () => void runs.push('two') },
      ],
    });
    const options = { store, sagas: [saga], clock: time, sleep: time.sleep, leaseTtlMs: ttl };
    const a = new SagaRuntime({ ...options, owner: 'a' });
    const b = new SagaRuntime({ ...options, owner: 'b' });
    await a.begin(saga, {}, { id: 'f-1' });
    await time.advance(0);
    await storeClock.advance(ttl + 1); // A's lease is over, as far as the store knows
    await b.start();
    const done = await time.runUntil(b.wait('f-1'));
    expect(done.status).toBe('completed');
    const versionAfterB = done.version;

    stuck.open(); // A wakes up and tries to record its step
    await time.advance(0);
    expect(runs).toEqual(['one by a', 'one by b', 'two']);
    const after = await store.get('f-1');
    expect(after?.version).toBe(versionAfterB);
    expect(after?.history.map((h) => h.outcome)).toEqual(['interrupted', 'succeeded', 'succeeded']);
    await time.runUntil(Promise.all([a.stop(), b.stop()]));
  });

  it('stop() lets the running attempt finish, records it and releases the lease for the next runtime', async () => {
    const { time, store, runtime } = setup();
    const slow = gate();
    // No type argument: the data type is not inferred from what `execute` returns (a Promise).
    const saga = defineSaga({
      name: 'drain',
      steps: [
        { name: 'one', execute: () => slow.wait },
        { name: 'two', execute: () => undefined },
      ],
    });
    const a = runtime({ sagas: [saga], owner: 'a' });
    await a.begin(saga, {}, { id: 'd-1' });
    await time.advance(0);
    const stopping = a.stop();
    slow.open();
    await time.runUntil(stopping);
    expect(await store.get('d-1')).toMatchObject({
      status: 'running',
      currentStep: 'two',
      completedSteps: ['one'],
      leaseOwner: undefined,
    });
    const b = runtime({ sagas: [saga], owner: 'b' });
    await b.start(); // no lease to wait for
    expect((await time.runUntil(b.wait('d-1'))).status).toBe('completed');
    await time.runUntil(b.stop());
  });

  it('a step that kills its runtime every time cannot loop: interrupted attempts count', async () => {
    const { time, store, runtime } = setup();
    const log: string[] = [];
    const poison = (kills: () => Promise<void>) =>
      defineSaga<object>({
        name: 'poison',
        steps: [
          { name: 'ok', execute: () => undefined, compensate: () => void log.push('undo ok') },
          { name: 'kills', retry: { maxAttempts: 2 }, execute: kills },
        ],
      });
    // Each runtime dies inside `kills`: its store goes silent, as a killed process's would.
    const doomed = (owner: string) => {
      const dying = severable(store);
      const saga = poison(async () => {
        log.push(`kills in ${owner}`);
        dying.sever();
        await new Promise(() => undefined);
      });
      return runtime({ sagas: [saga], store: dying.store, owner });
    };
    await doomed('first').begin('poison', {}, { id: 'p-1' });
    await time.advance(0);
    await doomed('second').start();
    await time.advance(ttl + 1_000); // the second runtime takes it over and dies the same way
    expect(log).toEqual(['kills in first', 'kills in second']);

    const survivor = runtime({
      sagas: [poison(async () => void log.push('never runs'))],
      owner: 'third',
    });
    await survivor.start();
    const done = await time.runUntil(survivor.wait('p-1'));
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ step: 'kills', name: 'Interrupted' });
    expect(log).toEqual(['kills in first', 'kills in second', 'undo ok']);
    expect(done.history.map((h) => `${h.kind} ${h.step} #${h.attempt} ${h.outcome}`)).toEqual([
      'execute ok #1 succeeded',
      'execute kills #1 interrupted',
      'execute kills #2 interrupted',
      'compensate ok #1 succeeded',
    ]);
    await time.runUntil(survivor.stop());
  });

  it('a step that runs longer than the lease keeps it: the heartbeat renews it', async () => {
    const { time, runtime, store } = setup();
    const drivers: string[] = [];
    const saga = defineSaga<object>({
      name: 'long',
      steps: [
        {
          name: 'slow',
          execute: async (ctx) => {
            drivers.push((await store.get(ctx.sagaId))!.leaseOwner!);
            await time.sleep(5 * ttl);
          },
        },
      ],
    });
    const a = runtime({ sagas: [saga], owner: 'a' });
    const b = runtime({ sagas: [saga], owner: 'b' });
    await b.start(); // polls every second for abandoned work
    const done = await time.runUntil(a.run(saga, {}, { id: 'l-1' }));
    expect(done.status).toBe('completed');
    expect(drivers).toEqual(['a']);
    expect(done.history).toHaveLength(1);
    await time.runUntil(b.stop());
  });
});
