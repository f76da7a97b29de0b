import { ValidationError } from '../core/errors.js';
import type { EventFilter, StreamMetadata } from './types.js';

/** Checks of caller-supplied read options and metadata, each naming the bad field. */

export function normalizeFilter(filter: EventFilter | undefined): EventFilter | undefined {
  if (!filter) return undefined;
  const types = filter.types && filter.types.length > 0 ? filter.types : undefined;
  const prefix = filter.streamPrefix ? filter.streamPrefix : undefined;
  if (!types && !prefix) return undefined;
  return { ...(types ? { types } : {}), ...(prefix ? { streamPrefix: prefix } : {}) };
}

export function nonNegativeInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError('Invalid read options', [
      { path: [name], message: `must be an integer >= 0, got ${String(value)}` },
    ]);
  }
  return value;
}

export function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ValidationError('Invalid read options', [
      { path: [name], message: `must be an integer >= 1, got ${String(value)}` },
    ]);
  }
  return value;
}

export function validateMetadata(metadata: StreamMetadata): StreamMetadata {
  const issues: { path: string[]; message: string }[] = [];
  for (const key of ['truncateBefore', 'maxCount', 'maxAge'] as const) {
    const value = metadata[key];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      issues.push({
        path: ['metadata', key],
        message: `must be an integer >= 0, got ${String(value)}`,
      });
    }
  }
  if (
    metadata.custom !== undefined &&
    (typeof metadata.custom !== 'object' || metadata.custom === null)
  ) {
    issues.push({ path: ['metadata', 'custom'], message: 'must be an object' });
  }
  if (issues.length > 0) throw new ValidationError('Invalid stream metadata', issues);
  return metadata;
}
