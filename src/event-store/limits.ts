import { ValidationError } from '../core/errors.js';

export interface EventStoreLimits {
  /** Largest serialized event (data + metadata) in bytes. Default 1 MiB. */
  maxEventSize: number;
  /** Longest stream id in characters. Default 255. */
  maxStreamIdLength: number;
}

export const DEFAULT_LIMITS: EventStoreLimits = {
  maxEventSize: 1024 * 1024,
  maxStreamIdLength: 255,
};

// Control characters break logs, CLI output and some brokers' subject names.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export function assertValidStreamId(
  streamId: unknown,
  limits: EventStoreLimits = DEFAULT_LIMITS,
): asserts streamId is string {
  const problem =
    typeof streamId !== 'string'
      ? `must be a string, got ${typeof streamId}`
      : streamId.length === 0
        ? 'must not be empty'
        : streamId.length > limits.maxStreamIdLength
          ? `must be at most ${limits.maxStreamIdLength} characters, got ${streamId.length}`
          : CONTROL_CHARS.test(streamId)
            ? 'must not contain control characters'
            : undefined;
  if (problem)
    throw new ValidationError('Invalid stream id', [{ path: ['streamId'], message: problem }]);
}
