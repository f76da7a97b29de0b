/**
 * `causeway/testing`: small helpers for tests of code built on Causeway. They wait on
 * events instead of sleeping, so tests stay fast and deterministic.
 */
import { TimeoutError } from '../core/errors.js';

export { ManualClock } from '../core/clock.js';
export { VirtualTime } from './virtual-time.js';
export { TopologyTestDriver, type DriverClock, type PipeOptions } from './topology-test-driver.js';

/** Drains an async iterable into an array. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/**
 * Resolves when `condition` returns true, re-checking each time `poll` ms pass. For
 * conditions that only another process can change; in-process code should await an event.
 */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; pollMs?: number; what?: string } = {},
): Promise<void> {
  const { timeoutMs = 10_000, pollMs = 20, what = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new TimeoutError(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export { aggregateSpec, deciderSpec } from './given-when-then.js';
export { projectionSpec, type GivenEvent } from './projection-spec.js';
