import { describe, expect, it } from 'vitest';
import {
  defineSaga,
  SagaNotFoundError,
  SagaWaitTimeoutError,
  TimeoutError,
  type SagaInstance,
} from 'causeway';
import { gate, leftBehind, setup } from './fixtures.js';

/** A poll interval no other wait of the runtime uses, so `requested` shows whether it polled. */
const POLL = 7_777;

function gatedSaga() {
  const steps = { first: gate(), second: gate() };
  const saga = defineSaga<Record<string, never>>({
    name: 'gated',
    steps: [
      { name: 'first', execute: () => steps.first.wait },
      { name: 'second', execute: () => steps.second.wait },
    ],
  });
  return { saga, steps };
}

describe('SagaRuntime.wait', () => {
  it('resolves on the last write of an instance this runtime drives, without polling', async () => {
    const { time, runtime } = setup();
    const { saga, steps } = gatedSaga();
    const rt = runtime({ sagas: [saga], pollIntervalMs: POLL });
    const id = await rt.begin(saga, {});
    let settled: SagaInstance | undefined;
    const waiting = rt.wait(id).then((instance) => (settled = instance));
    await time.advance(60_000); // heartbeats only: the steps wait on their gates
    expect(settled).toBeUndefined();
    steps.first.open();
    steps.second.open();
    await time.runUntil(waiting);
    expect(settled).toMatchObject({ id, status: 'completed', completedSteps: ['first', 'second'] });
    expect(time.requested).not.toContain(POLL);
  });

  it('follows a local takeover at once instead of waiting for its next poll', async () => {
    const { time, store, runtime } = setup();
    const { saga, steps } = gatedSaga();
    steps.first.open();
    steps.second.open();
    // A runtime died driving it; its lease is gone.
    await leftBehind(
      store,
      time.now(),
      { id: 'orphan', name: 'gated', currentStep: 'first' },
      'dead',
      0,
    );
    const rt = runtime({ sagas: [saga], pollIntervalMs: POLL });
    const started = time.now().getTime();
    let settled: SagaInstance | undefined;
    const waiting = rt.wait('orphan').then((instance) => (settled = instance));
    await time.advance(0);
    expect(time.requested).toContain(POLL); // nobody drives it: the waiter polls
    await rt.resume('orphan');
    await time.advance(0);
    expect(settled).toMatchObject({ status: 'completed' });
    expect(time.now().getTime() - started).toBeLessThan(POLL);
    await waiting;
  });

  it('polls an instance another runtime drives and resolves once it settles there', async () => {
    const { time, runtime } = setup();
    const { saga, steps } = gatedSaga();
    const driver = runtime({ sagas: [saga] });
    const watcher = runtime({ sagas: [saga], pollIntervalMs: POLL });
    const id = await driver.begin(saga, {});
    const waiting = watcher.wait(id);
    steps.first.open();
    steps.second.open();
    const done = await time.runUntil(waiting);
    expect(done.status).toBe('completed');
    expect(time.requested).toContain(POLL);
  });

  it('times out with SagaWaitTimeoutError naming the last status; the saga goes on', async () => {
    const { time, runtime } = setup();
    const { saga, steps } = gatedSaga();
    const rt = runtime({ sagas: [saga], pollIntervalMs: POLL });
    const id = await rt.begin(saga, {});
    const error: unknown = await time
      .runUntil(rt.wait(id, { timeoutMs: 5_000 }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SagaWaitTimeoutError);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: 'TIMEOUT', sagaId: id, timeoutMs: 5_000 });
    // It never read the instance: the local driver was still running when time ran out.
    expect((error as SagaWaitTimeoutError).status).toBeUndefined();

    steps.first.open();
    steps.second.open();
    expect((await time.runUntil(rt.wait(id, { timeoutMs: 5_000 }))).status).toBe('completed');
    expect(time.pending).not.toContain(5_000); // the timeout's timer went with its wait
  });

  it('a timeout while polling another runtime reports the status it last read', async () => {
    const { time, runtime } = setup();
    const { saga } = gatedSaga();
    const driver = runtime({ sagas: [saga] });
    const watcher = runtime({ sagas: [saga], pollIntervalMs: 1_000 });
    const id = await driver.begin(saga, {});
    await expect(time.runUntil(watcher.wait(id, { timeoutMs: 3_500 }))).rejects.toMatchObject({
      code: 'TIMEOUT',
      status: 'running',
    });
  });

  it('rejects with the signal reason on abort, and SagaNotFoundError for an unknown id', async () => {
    const { time, runtime } = setup();
    const { saga } = gatedSaga();
    const rt = runtime({ sagas: [saga] });
    const id = await rt.begin(saga, {});
    const controller = new AbortController();
    const waiting = rt.wait(id, { signal: controller.signal });
    controller.abort(new Error('client went away'));
    await expect(time.runUntil(waiting)).rejects.toThrow('client went away');
    await expect(rt.wait('nobody')).rejects.toBeInstanceOf(SagaNotFoundError);
  });
});
