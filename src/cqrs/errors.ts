import { CausewayError } from '../core/errors.js';

export type MessageKind = 'command' | 'query';

export class NoHandlerError extends CausewayError {
  constructor(
    readonly kind: MessageKind,
    readonly messageType: string,
  ) {
    super(
      'NO_HANDLER',
      `No handler is registered for ${kind} "${messageType}". Register one with bus.register("${messageType}", handler).`,
    );
  }
}

export class HandlerAlreadyRegisteredError extends CausewayError {
  constructor(
    readonly kind: MessageKind,
    readonly messageType: string,
  ) {
    super(
      'HANDLER_ALREADY_REGISTERED',
      `A handler for ${kind} "${messageType}" is already registered; each ${kind} type has exactly one.`,
    );
  }
}

/** A handler threw something that is not a Causeway error; the original is the `cause`. */
export class HandlerFailedError extends CausewayError {
  constructor(
    readonly kind: MessageKind,
    readonly messageType: string,
    readonly messageId: string,
    cause: unknown,
  ) {
    super(
      'HANDLER_FAILED',
      `The handler of ${kind} "${messageType}" (id ${messageId}) failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
  }
  override toJSON() {
    return {
      ...super.toJSON(),
      kind: this.kind,
      messageType: this.messageType,
      messageId: this.messageId,
    };
  }
}

export class UnauthorizedError extends CausewayError {
  constructor(
    readonly kind: MessageKind,
    readonly messageType: string,
    reason = 'the caller is not allowed to do this',
  ) {
    super('UNAUTHORIZED', `Not authorized to run ${kind} "${messageType}": ${reason}`);
  }
}
