import { isCausewayError, TimeoutError } from '../core/errors.js';
import type { SagaAttemptOutcome, SagaErrorInfo } from './saga-store.js';

/** Waits `ms` (or until `signal` aborts, rejecting with its reason). Injected so tests control time. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export type AttemptResult<T> =
  | { ok: true; value: T }
  | { ok: false; outcome: Exclude<SagaAttemptOutcome, 'started' | 'succeeded'>; error: unknown };

/**
 * Runs one attempt of a step. It ends when the step settles, when `timeoutMs` passes (the
 * step's signal is aborted with a `TimeoutError`: a timed-out step counts as a failure) or
 * when `parent` aborts (operator abort, lost lease, forced stop). A step that ignores its
 * signal keeps running in the background, but its result is ignored — which is why steps
 * get an idempotency key: the next attempt must not repeat an effect the abandoned one made.
 */
export async function runAttempt<T>(
  work: (signal: AbortSignal) => Promise<T> | T,
  options: { timeoutMs: number | undefined; sleep: Sleep; parent: AbortSignal; what: string },
): Promise<AttemptResult<T>> {
  const controller = new AbortController();
  const onParent = () => controller.abort(options.parent.reason);
  if (options.parent.aborted) onParent();
  else options.parent.addEventListener('abort', onParent, { once: true });
  const stopTimer = new AbortController();
  const ended = new Promise<AttemptResult<T>>((resolve) => {
    const onAbort = () => {
      const reason: unknown = controller.signal.reason;
      resolve({
        ok: false,
        outcome: reason instanceof TimeoutError ? 'timed_out' : 'aborted',
        error: reason,
      });
    };
    if (controller.signal.aborted) onAbort();
    else controller.signal.addEventListener('abort', onAbort, { once: true });
  });
  if (options.timeoutMs !== undefined) {
    const timeoutMs = options.timeoutMs;
    options.sleep(timeoutMs, stopTimer.signal).then(
      () => controller.abort(new TimeoutError(`${options.what} timed out after ${timeoutMs} ms`)),
      () => undefined,
    );
  }
  const settled = Promise.resolve()
    .then(() => work(controller.signal))
    .then(
      (value): AttemptResult<T> => ({ ok: true, value }),
      (error: unknown): AttemptResult<T> => ({ ok: false, outcome: 'failed', error }),
    );
  try {
    return await Promise.race([ended, settled]);
  } finally {
    stopTimer.abort();
    options.parent.removeEventListener('abort', onParent);
  }
}

/** How an error is stored: class name, Causeway code (if any) and message; no stack. */
export function describeError(error: unknown): SagaErrorInfo {
  if (isCausewayError(error)) return { name: error.name, code: error.code, message: error.message };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}
