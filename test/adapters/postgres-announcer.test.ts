/**
 * The PostgreSQL transport's wake-up announcer: coalesced NOTIFYs, spaced apart, and never a
 * call without a send that starts after it (else another process's consumer waits its poll).
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, it, vi } from 'vitest';
import { Announcer } from '../../src/adapters/postgres/postgres-listener.js';

/** A fake NOTIFY: records when each send started and resolves when the test says so. */
function fakeSend() {
  const started: number[] = [];
  const pending: (() => void)[] = [];
  let onStart: (() => void) | undefined;
  const send = () => {
    started.push(performance.now());
    onStart?.();
    return new Promise<void>((resolve) => pending.push(resolve));
  };
  /** Resolves at the next send's start. */
  const nextStart = () => new Promise<void>((resolve) => (onStart = resolve));
  const finish = () => pending.shift()?.();
  return { send, started, nextStart, finish };
}

describe('Announcer', () => {
  it('sends at once when idle, then one more for every call made while it was sending', async () => {
    const fake = fakeSend();
    const announcer = new Announcer(fake.send, 20);
    announcer.announce();
    expect(fake.started).toHaveLength(1);
    for (let i = 0; i < 10; i++) announcer.announce();
    expect(fake.started).toHaveLength(1);
    const second = fake.nextStart();
    const lastCall = performance.now();
    fake.finish();
    await second;
    expect(fake.started).toHaveLength(2);
    // The trailing send starts after the last call, and no sooner than the gap after the first.
    expect(fake.started[1]!).toBeGreaterThanOrEqual(lastCall);
    expect(fake.started[1]! - fake.started[0]!).toBeGreaterThanOrEqual(19);
    fake.finish();
    await announcer.close();
    expect(fake.started).toHaveLength(2);
  });

  it('a failed send does not stop the calls made meanwhile from being announced', async () => {
    let calls = 0;
    const announcer = new Announcer(async () => {
      calls++;
      if (calls === 1) throw new Error('connection lost');
    }, 0);
    announcer.announce();
    announcer.announce();
    await vi.waitFor(() => expect(calls).toBe(2));
    await announcer.close();
  });

  it('sends nothing once closed, and close waits for the send under way', async () => {
    const fake = fakeSend();
    const announcer = new Announcer(fake.send, 0);
    announcer.announce();
    announcer.announce();
    let closed = false;
    const closing = announcer.close().then(() => (closed = true));
    await Promise.resolve();
    expect(closed).toBe(false);
    fake.finish();
    await closing;
    announcer.announce();
    expect(fake.started).toHaveLength(1);
  });
});
