import type { StreamInfo } from './types.js';

/**
 * Which versions of a stream `readStream` may return, after applying its metadata
 * (`truncateBefore`, `maxCount`). `maxAge` is applied per event by `isExpired`.
 */
export function visibleFromVersion(info: StreamInfo): number {
  const { truncateBefore, maxCount } = info.metadata;
  let from = 1;
  if (truncateBefore !== undefined) from = Math.max(from, truncateBefore);
  if (maxCount !== undefined) from = Math.max(from, info.version - maxCount + 1);
  return from;
}

export function isExpired(info: StreamInfo, eventTime: Date, now: Date): boolean {
  const { maxAge } = info.metadata;
  return maxAge !== undefined && now.getTime() - eventTime.getTime() > maxAge;
}
