import { currentContext, runWithContext } from '../core/context.js';
import { isCausewayError, ValidationError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import {
  HandlerAlreadyRegisteredError,
  HandlerFailedError,
  NoHandlerError,
  type MessageKind,
} from './errors.js';

/** Who is calling: passed to authorization and available to handlers. */
export interface Caller {
  userId?: string;
  roles?: readonly string[];
  [key: string]: unknown;
}

export interface MessageMetadata {
  correlationId: string;
  causationId?: string;
  userId?: string;
  traceparent?: string;
  /** Copied into the metadata of every event the handler appends. */
  extra?: Record<string, unknown>;
}

/** A command or query as it travels through the pipeline. */
export interface Message<Type extends string = string, Payload = unknown> {
  id: string;
  type: Type;
  payload: Payload;
  metadata: MessageMetadata;
}

export interface DispatchContext {
  readonly kind: MessageKind;
  message: Message;
  readonly caller: Caller;
}

/** Wraps the rest of the pipeline; call `next()` to continue, or return without it to short-circuit. */
export type Middleware = (
  context: DispatchContext,
  next: () => Promise<unknown>,
) => Promise<unknown>;

export interface DispatchOptions {
  /** The message id; a retried request must reuse it for idempotency to work. Default: a new UUIDv7. */
  id?: string;
  correlationId?: string;
  causationId?: string;
  traceparent?: string;
  caller?: Caller;
  metadata?: Record<string, unknown>;
}

/** `{ CreateOrder: { payload: {...}; result: {...} } }` — one entry per message type. */
export type MessageMap = Record<string, { payload: unknown; result: unknown }>;

export type Handler<M extends MessageMap, T extends keyof M & string> = (
  message: Message<T, M[T]['payload']>,
  context: { caller: Caller },
) => M[T]['result'] | Promise<M[T]['result']>;

/**
 * The pipeline shared by the command and query buses: one handler per type, middleware in
 * registration order (first registered runs outermost), and the ambient message context set
 * around the handler so appended events carry the message's correlation, causation and user.
 */
export class Bus<M extends MessageMap> {
  readonly #handlers = new Map<string, Handler<M, keyof M & string>>();
  readonly #middleware: Middleware[] = [];

  constructor(readonly kind: MessageKind) {}

  register<T extends keyof M & string>(type: T, handler: Handler<M, T>): this {
    if (typeof type !== 'string' || type.length === 0) {
      throw new ValidationError(`Invalid ${this.kind} registration`, [
        { path: ['type'], message: 'must be a non-empty string' },
      ]);
    }
    if (this.#handlers.has(type)) throw new HandlerAlreadyRegisteredError(this.kind, type);
    this.#handlers.set(type, handler as unknown as Handler<M, keyof M & string>);
    return this;
  }

  use(...middleware: Middleware[]): this {
    this.#middleware.push(...middleware);
    return this;
  }

  has(type: string): boolean {
    return this.#handlers.has(type);
  }

  async dispatch<T extends keyof M & string>(
    type: T,
    payload: M[T]['payload'],
    options: DispatchOptions = {},
  ): Promise<M[T]['result']> {
    const handler = this.#handlers.get(type);
    if (!handler) throw new NoHandlerError(this.kind, type);
    const id = options.id ?? newId();
    // Dispatched from inside another handler: continue its flow (same correlation, caused by
    // it, same user and trace) unless the caller says otherwise.
    const outer = currentContext();
    const caller = options.caller ?? (outer?.userId === undefined ? {} : { userId: outer.userId });
    const causationId = options.causationId ?? outer?.messageId;
    const traceparent = options.traceparent ?? outer?.traceparent;
    const metadata: MessageMetadata = {
      correlationId: options.correlationId ?? outer?.correlationId ?? id,
      ...(causationId === undefined ? {} : { causationId }),
      ...(caller.userId === undefined ? {} : { userId: caller.userId }),
      ...(traceparent === undefined ? {} : { traceparent }),
      ...(options.metadata === undefined ? {} : { extra: options.metadata }),
    };
    const context: DispatchContext = {
      kind: this.kind,
      message: { id, type, payload, metadata },
      caller,
    };

    const invoke = async (): Promise<unknown> => {
      const message = context.message;
      const ambient = {
        messageId: message.id,
        correlationId: message.metadata.correlationId,
        ...(message.metadata.userId === undefined ? {} : { userId: message.metadata.userId }),
        ...(message.metadata.traceparent === undefined
          ? {}
          : { traceparent: message.metadata.traceparent }),
        ...(message.metadata.extra === undefined ? {} : { metadata: message.metadata.extra }),
      };
      try {
        return await runWithContext(ambient, () =>
          handler(message as Message<keyof M & string>, { caller }),
        );
      } catch (error) {
        // Typed errors (domain rules, conflicts, validation) pass through so callers can match
        // them; anything else is wrapped with the message type and id for the logs.
        if (isCausewayError(error)) throw error;
        throw new HandlerFailedError(this.kind, message.type, message.id, error);
      }
    };

    const run = (index: number): Promise<unknown> => {
      const middleware = this.#middleware[index];
      return middleware ? middleware(context, () => run(index + 1)) : invoke();
    };
    return (await run(0)) as M[T]['result'];
  }
}

export class CommandBus<M extends MessageMap> extends Bus<M> {
  constructor() {
    super('command');
  }
  /** Runs a command through the middleware to its handler and returns the handler's result. */
  execute<T extends keyof M & string>(
    type: T,
    payload: M[T]['payload'],
    options?: DispatchOptions,
  ): Promise<M[T]['result']> {
    return this.dispatch(type, payload, options);
  }
}

export class QueryBus<M extends MessageMap> extends Bus<M> {
  constructor() {
    super('query');
  }
  ask<T extends keyof M & string>(
    type: T,
    payload: M[T]['payload'],
    options?: DispatchOptions,
  ): Promise<M[T]['result']> {
    return this.dispatch(type, payload, options);
  }
}
