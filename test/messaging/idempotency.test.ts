import { describe, expect, it } from 'vitest';
import { IdempotencyService, ManualClock, MemoryIdempotencyStore, TimeoutError } from 'causeway';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('IdempotencyService.process', () => {
  it('runs once; concurrent callers wait for and share the first result; later callers get it stored', async () => {
    const service = new IdempotencyService(new MemoryIdempotencyStore());
    let runs = 0;
    const g = gate();
    const op = async () => {
      runs++;
      await g.opened;
      return { receipt: `r-${runs}` };
    };
    const first = service.process('pay-1', op);
    const second = service.process('pay-1', op);
    await Promise.resolve();
    g.open();
    expect(await Promise.all([first, second])).toEqual([{ receipt: 'r-1' }, { receipt: 'r-1' }]);
    expect(await service.process('pay-1', op)).toEqual({ receipt: 'r-1' });
    expect(runs).toBe(1);
  });

  it('a failure stores nothing: the next caller runs the operation', async () => {
    const service = new IdempotencyService(new MemoryIdempotencyStore());
    await expect(
      service.process('k', () => Promise.reject(new Error('card declined'))),
    ).rejects.toThrow('card declined');
    expect(await service.process('k', async () => 'second try')).toBe('second try');
  });

  it('a waiter gives up with a TimeoutError when the first caller takes too long', async () => {
    const service = new IdempotencyService(new MemoryIdempotencyStore(), { waitTimeoutMs: 50 });
    const g = gate();
    const slow = service.process('k', () => g.opened.then(() => 'late'));
    await expect(service.process('k', async () => 'never')).rejects.toBeInstanceOf(TimeoutError);
    g.open();
    expect(await slow).toBe('late');
  });

  it('fences: a caller whose lease expired and was taken over cannot record its result', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const store = new MemoryIdempotencyStore(() => clock.now());
    const first = await store.claim('k', 1_000);
    expect(first.status).toBe('claimed');
    expect(await store.claim('k', 1_000)).toMatchObject({ status: 'in_progress' });
    clock.advance(2_000);
    const second = await store.claim('k', 1_000);
    expect(second.status).toBe('claimed');
    expect(
      await store.complete('k', (first as { token: string }).token, '"stale"', undefined),
    ).toBe(false);
    expect(
      await store.complete('k', (second as { token: string }).token, '"fresh"', undefined),
    ).toBe(true);
    expect(await store.claim('k', 1_000)).toEqual({ status: 'completed', result: '"fresh"' });
  });

  it('forgets results after their ttl', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const service = new IdempotencyService(new MemoryIdempotencyStore(() => clock.now()));
    expect(await service.process('k', async () => 1, { ttlMs: 1_000 })).toBe(1);
    expect(await service.process('k', async () => 2, { ttlMs: 1_000 })).toBe(1);
    clock.advance(1_001);
    expect(await service.process('k', async () => 3, { ttlMs: 1_000 })).toBe(3);
  });
});
