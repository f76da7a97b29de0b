import type { StandardSchemaV1 } from '../core/schema.js';
import { validate } from '../core/schema.js';
import {
  IdempotencyService,
  type IdempotencyServiceOptions,
  type IdempotencyStore,
  type ProcessOptions,
} from '../messaging/idempotency-store.js';
import type { DispatchContext, Middleware } from './bus.js';
import { UnauthorizedError } from './errors.js';

/**
 * Validates each payload against the schema registered for its type (any Standard Schema).
 * A failure is a `ValidationError` whose paths start at `payload`; the handler never runs.
 * The handler receives the schema's output (defaults applied, coercions done).
 */
export function validation(schemas: Readonly<Record<string, StandardSchemaV1>>): Middleware {
  return async (context, next) => {
    const schema = schemas[context.message.type];
    if (schema) {
      const payload = await validate(schema, context.message.payload, {
        what: `${context.kind} "${context.message.type}"`,
        at: ['payload'],
      });
      context.message = { ...context.message, payload };
    }
    return next();
  };
}

/** Asks `allow` before every message; `false` (or a string reason) refuses with `UnauthorizedError`. */
export function authorization(
  allow: (context: DispatchContext) => boolean | string | Promise<boolean | string>,
): Middleware {
  return async (context, next) => {
    const verdict = await allow(context);
    if (verdict !== true) {
      throw new UnauthorizedError(
        context.kind,
        context.message.type,
        typeof verdict === 'string' ? verdict : undefined,
      );
    }
    return next();
  };
}

/**
 * Runs each message id once (through `IdempotencyService`): a replay (same id) returns the
 * first result and runs nothing; concurrent duplicates wait for the first one's result, across
 * processes when the store is shared. A failure is not remembered, so a failed command may be
 * retried. Results are stored as JSON: a replay returns the JSON shape of the first result.
 */
export function idempotency(
  store: IdempotencyStore,
  options: ProcessOptions & IdempotencyServiceOptions = {},
): Middleware {
  const service = new IdempotencyService(store, options);
  const processOptions = options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs };
  return (context, next) =>
    service.process(
      `${context.kind}:${context.message.type}:${context.message.id}`,
      next,
      processOptions,
    );
}

/** The logging port: structured fields, no formatting opinions. Pino and console both fit. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Logs each message with its type, id, correlation id, outcome and duration. */
export function logging(logger: Logger): Middleware {
  return async (context, next) => {
    const started = performance.now();
    const fields = {
      kind: context.kind,
      type: context.message.type,
      id: context.message.id,
      correlationId: context.message.metadata.correlationId,
    };
    try {
      const result = await next();
      logger.info(`${context.kind} handled`, {
        ...fields,
        ms: Math.round(performance.now() - started),
      });
      return result;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      logger.error(`${context.kind} failed`, {
        ...fields,
        ms: Math.round(performance.now() - started),
        code,
        error: String(error),
      });
      throw error;
    }
  };
}

export interface Span {
  /** W3C traceparent of this span, passed on to the events the handler appends. */
  traceparent?: string;
  end(error?: unknown): void;
}

/**
 * A tracing hook: `start` opens a span (e.g. with OpenTelemetry) for each message; its
 * traceparent replaces the message's, so appended events join the trace.
 */
export function tracing(start: (context: DispatchContext) => Span): Middleware {
  return async (context, next) => {
    const span = start(context);
    if (span.traceparent) {
      context.message = {
        ...context.message,
        metadata: { ...context.message.metadata, traceparent: span.traceparent },
      };
    }
    try {
      const result = await next();
      span.end();
      return result;
    } catch (error) {
      span.end(error);
      throw error;
    }
  };
}
