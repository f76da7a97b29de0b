/**
 * Exponential backoff with full jitter: the delay before attempt `n + 1` is a random value
 * in [0, min(maxDelay, initialDelay * factor^(n-1))]. Full jitter spreads out retries of
 * many clients that failed together, instead of having them collide again in lockstep.
 */
export interface RetryPolicy {
  /** Total attempts including the first. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  factor: 2,
};

/** The delay to wait after failed attempt number `attempt` (1-based). */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(
    policy.maxDelayMs,
    policy.initialDelayMs * policy.factor ** Math.max(0, attempt - 1),
  );
  return Math.floor(random() * ceiling);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it succeeds, `isRetryable(error)` says no, or attempts run out; the last
 * error is rethrown unchanged.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: { policy: RetryPolicy; isRetryable: (error: unknown) => boolean; signal?: AbortSignal },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= options.policy.maxAttempts || !options.isRetryable(error)) throw error;
      await sleep(backoffDelay(options.policy, attempt), options.signal);
    }
  }
}
