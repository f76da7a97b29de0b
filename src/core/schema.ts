import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ValidationError, type ValidationIssue } from './errors.js';

export type { StandardSchemaV1 };

/**
 * Validates `value` against any Standard Schema (zod, valibot, arktype…). On failure, throws
 * a `ValidationError` whose issue paths are prefixed with `at`, so the caller sees where in
 * its own input the bad field was (e.g. `events[1].data.amount`).
 */
export async function validate<S extends StandardSchemaV1>(
  schema: S,
  value: unknown,
  context: { what: string; at?: ReadonlyArray<string | number> },
): Promise<StandardSchemaV1.InferOutput<S>> {
  let result = schema['~standard'].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) {
    const prefix = context.at ?? [];
    const issues: ValidationIssue[] = result.issues.map((issue) => ({
      path: [...prefix, ...(issue.path ?? []).map(pathKey)],
      message: issue.message,
    }));
    throw new ValidationError(`Invalid ${context.what}`, issues);
  }
  return result.value;
}

function pathKey(segment: PropertyKey | StandardSchemaV1.PathSegment): string | number {
  const key = typeof segment === 'object' ? segment.key : segment;
  return typeof key === 'number' ? key : String(key);
}
