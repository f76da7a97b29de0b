export {
  Bus,
  CommandBus,
  QueryBus,
  type Caller,
  type DispatchContext,
  type DispatchOptions,
  type Handler,
  type Message,
  type MessageMap,
  type MessageMetadata,
  type Middleware,
} from './bus.js';
export {
  authorization,
  idempotency,
  logging,
  tracing,
  validation,
  type Logger,
  type Span,
} from './middleware.js';
export {
  HandlerAlreadyRegisteredError,
  HandlerFailedError,
  NoHandlerError,
  UnauthorizedError,
  type MessageKind,
} from './errors.js';
