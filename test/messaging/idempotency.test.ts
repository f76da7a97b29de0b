import { describe, expect, it } from 'vitest';
import { IdempotencyService, ManualClock, MemoryIdempotencyStore } from 'causeway';
import { idempotencyContract } from '../contracts/idempotency.contract.js';

idempotencyContract({
  name: 'memory',
  async create() {
    // One process: both handles are the same store.
    const store = new MemoryIdempotencyStore();
    return { store, other: store, async close() {} };
  },
  async cleanup() {},
});

// Further cases run on a manual clock, which only the memory store takes.
describe('IdempotencyService.process', () => {
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
