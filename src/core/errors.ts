/**
 * Every error Causeway throws on purpose is a `CausewayError` with a stable string `code`.
 * Match on `code` (or the `is*` guards), never on the message: messages may be reworded,
 * codes may not. The guards use a global symbol brand, so they still work when two copies
 * of the package end up in one process (where `instanceof` would fail).
 */
const BRAND = Symbol.for('causeway.error');

export type CausewayErrorCode =
  | 'CONCURRENCY'
  | 'STREAM_NOT_FOUND'
  | 'STREAM_DELETED'
  | 'VALIDATION'
  | 'SERIALIZATION'
  | 'EVENT_TOO_LARGE'
  | 'DUPLICATE_EVENT_ID'
  | 'UPCAST_FAILED'
  | 'SUBSCRIPTION_FAILED'
  | 'STORE_UNAVAILABLE'
  | 'STORE_CLOSED'
  | 'TIMEOUT'
  | 'DOMAIN_RULE'
  | 'NO_HANDLER'
  | 'HANDLER_ALREADY_REGISTERED'
  | 'HANDLER_FAILED'
  | 'UNAUTHORIZED'
  | 'STORE_NOT_INITIALIZED'
  | 'PERMANENT_FAILURE'
  | 'LEASE_LOST'
  | 'PROJECTION_FAILED'
  | 'TRANSPORT_SETUP'
  | 'SAGA_NOT_FOUND'
  | 'SAGA_INVALID_STATE'
  | 'SAGA_ABORTED'
  | 'PUBLISH_REJECTED'
  | 'MESSAGE_TOO_LARGE'
  | 'PROCESS_INSTANCE_UNKNOWN'
  | 'SERVICE_START_FAILED';

export interface CausewayErrorOptions {
  cause?: unknown;
}

export class CausewayError extends Error {
  readonly [BRAND] = true;
  readonly code: CausewayErrorCode;

  constructor(code: CausewayErrorCode, message: string, options: CausewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }

  /** A plain object for logs and HTTP bodies: no stack, stable keys. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}

export function isCausewayError(value: unknown): value is CausewayError {
  return (
    typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true
  );
}

function hasCode<C extends CausewayErrorCode>(code: C) {
  return (value: unknown): boolean => isCausewayError(value) && value.code === code;
}

/** The version a writer expected, as it was written: a number or one of the named modes. */
export type ExpectedVersionDescription = number | 'any' | 'no_stream' | 'stream_exists';

/** An append's expected version did not match the stream. Nothing was written. */
export class ConcurrencyError extends CausewayError {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersionDescription,
    /** The stream's current version; 0 when the stream does not exist (or was soft-deleted). */
    readonly actual: number,
  ) {
    super(
      'CONCURRENCY',
      `Stream "${streamId}" is at version ${actual}, but the append expected ${describeExpected(expected)}. ` +
        'Reload the stream and decide again.',
    );
  }
  override toJSON() {
    return {
      ...super.toJSON(),
      streamId: this.streamId,
      expected: this.expected,
      actual: this.actual,
    };
  }
}

function describeExpected(expected: ExpectedVersionDescription): string {
  return typeof expected === 'number' ? `version ${expected}` : `'${expected}'`;
}

export class StreamNotFoundError extends CausewayError {
  constructor(readonly streamId: string) {
    super('STREAM_NOT_FOUND', `Stream "${streamId}" does not exist.`);
  }
  override toJSON() {
    return { ...super.toJSON(), streamId: this.streamId };
  }
}

/** The stream was tombstoned (hard-deleted): it can never be read or written again. */
export class StreamDeletedError extends CausewayError {
  constructor(readonly streamId: string) {
    super('STREAM_DELETED', `Stream "${streamId}" was permanently deleted (tombstoned).`);
  }
  override toJSON() {
    return { ...super.toJSON(), streamId: this.streamId };
  }
}

export interface ValidationIssue {
  /** Where the problem is, e.g. `['events', 2, 'data', 'amount']`. */
  path: ReadonlyArray<string | number>;
  message: string;
}

/** Input was rejected before anything was written; `issues` names every bad field. */
export class ValidationError extends CausewayError {
  readonly issues: readonly ValidationIssue[];
  constructor(
    message: string,
    issues: readonly ValidationIssue[],
    options: CausewayErrorOptions = {},
  ) {
    super('VALIDATION', `${message}: ${issues.map(formatIssue).join('; ')}`, options);
    this.issues = issues;
  }
  override toJSON() {
    return { ...super.toJSON(), issues: this.issues };
  }
}

export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out === '' ? '(root)' : out;
}

function formatIssue(issue: ValidationIssue): string {
  return `${formatPath(issue.path)}: ${issue.message}`;
}

export class SerializationError extends CausewayError {
  constructor(message: string, options: CausewayErrorOptions = {}) {
    super('SERIALIZATION', message, options);
  }
}

export class EventTooLargeError extends CausewayError {
  constructor(
    readonly eventType: string,
    readonly size: number,
    readonly limit: number,
    readonly index: number,
  ) {
    super(
      'EVENT_TOO_LARGE',
      `Event ${index} (${eventType}) is ${size} bytes, over the ${limit}-byte limit. ` +
        'Store large payloads elsewhere and append a reference, or raise `maxEventSize`.',
    );
  }
  override toJSON() {
    return {
      ...super.toJSON(),
      eventType: this.eventType,
      size: this.size,
      limit: this.limit,
      index: this.index,
    };
  }
}

/**
 * A message is over the broker's size limit (body plus attributes, as the broker counts them).
 * Nothing of that publish call was sent: every message is checked before the first is sent.
 */
export class MessageTooLargeError extends CausewayError {
  constructor(
    readonly destination: string,
    readonly messageId: string | undefined,
    readonly size: number,
    readonly limit: number,
    readonly limitName: string,
  ) {
    super(
      'MESSAGE_TOO_LARGE',
      `Message ${messageId ?? '(without id)'} for "${destination}" is ${size} bytes, over ${limitName} ` +
        `(${limit} bytes). Store large payloads elsewhere and send a reference.`,
    );
  }
  override toJSON() {
    return {
      ...super.toJSON(),
      destination: this.destination,
      messageId: this.messageId,
      size: this.size,
      limit: this.limit,
      limitName: this.limitName,
    };
  }
}

/**
 * The broker refused some messages of a publish (after retrying the ones it may accept later).
 * `failed` names each refused message and the broker's reason; the others were stored, so a
 * re-publish of the whole call can only duplicate them (consumers de-duplicate on the id).
 */
export class PublishRejectedError extends CausewayError {
  constructor(
    readonly destination: string,
    readonly failed: readonly { messageId: string | undefined; code: string; message: string }[],
    options: CausewayErrorOptions = {},
  ) {
    const first = failed[0];
    super(
      'PUBLISH_REJECTED',
      `The broker refused ${failed.length} message(s) for "${destination}"` +
        (first
          ? `; first: ${first.messageId ?? '(without id)'}: ${first.code} ${first.message}`
          : ''),
      options,
    );
  }
  override toJSON() {
    return { ...super.toJSON(), destination: this.destination, failed: this.failed };
  }
}

export class DuplicateEventIdError extends CausewayError {
  constructor(
    readonly eventId: string,
    options: CausewayErrorOptions = {},
  ) {
    super(
      'DUPLICATE_EVENT_ID',
      `An event with id "${eventId}" is already stored; event ids are unique.`,
      options,
    );
  }
}

export class UpcastError extends CausewayError {
  constructor(message: string, options: CausewayErrorOptions = {}) {
    super('UPCAST_FAILED', message, options);
  }
}

export class SubscriptionError extends CausewayError {
  constructor(
    readonly subscription: string,
    readonly position: number | undefined,
    message: string,
    options: CausewayErrorOptions = {},
  ) {
    super('SUBSCRIPTION_FAILED', message, options);
  }
}

/** The backing database could not be reached or refused us; `address` says where we tried. */
export class StoreUnavailableError extends CausewayError {
  constructor(
    readonly address: string,
    options: CausewayErrorOptions = {},
  ) {
    const reason = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('STORE_UNAVAILABLE', `Cannot reach the store at ${address}${reason}`, options);
  }
}

/** The database is reachable but Causeway's tables are missing or older than this code needs. */
export class StoreNotInitializedError extends CausewayError {
  constructor(
    readonly address: string,
    readonly foundVersion: number,
    readonly neededVersion: number,
  ) {
    super(
      'STORE_NOT_INITIALIZED',
      foundVersion === 0
        ? `No Causeway store at ${address}: its tables are missing. Open it once with migrations enabled to create them.`
        : `Causeway's tables at ${address} are at schema version ${foundVersion}; this code needs ${neededVersion}. Open the store with migrations enabled to upgrade.`,
    );
  }
  override toJSON() {
    return {
      ...super.toJSON(),
      address: this.address,
      foundVersion: this.foundVersion,
      neededVersion: this.neededVersion,
    };
  }
}

/**
 * A broker refused to create a stream, queue, topic or consumer as configured, or cannot run
 * the transport at all (too old, a key of another type in the way). Each broker adapter
 * subclasses it; `resource` names what was being set up and `cause` is the broker's answer.
 */
export class TransportSetupError extends CausewayError {
  constructor(
    readonly resource: string,
    message: string,
    options: CausewayErrorOptions = {},
  ) {
    super('TRANSPORT_SETUP', message, options);
  }
  override toJSON() {
    return { ...super.toJSON(), resource: this.resource };
  }
}

export class StoreClosedError extends CausewayError {
  constructor() {
    super('STORE_CLOSED', 'The store was closed; create a new one to keep working.');
  }
}

export class TimeoutError extends CausewayError {
  constructor(message: string) {
    super('TIMEOUT', message);
  }
}

/**
 * A business rule refused the command (e.g. "only pending orders can be confirmed").
 * Subclass it per rule; `rule` is the stable identifier clients match on.
 */
export class DomainError extends CausewayError {
  constructor(
    readonly rule: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super('DOMAIN_RULE', message);
  }
  override toJSON() {
    return { ...super.toJSON(), rule: this.rule, details: this.details };
  }
}

export const isStoreNotInitializedError = hasCode('STORE_NOT_INITIALIZED') as (
  v: unknown,
) => v is StoreNotInitializedError;
/**
 * Throw from a message handler when retrying cannot help (a malformed order, a refused
 * payment): the message goes straight to the dead-letter queue with this reason.
 */
export class PermanentError extends CausewayError {
  constructor(message: string, options: CausewayErrorOptions = {}) {
    super('PERMANENT_FAILURE', message, options);
  }
}

export const isStoreUnavailableError = hasCode('STORE_UNAVAILABLE') as (
  v: unknown,
) => v is StoreUnavailableError;
export const isDomainError = hasCode('DOMAIN_RULE') as (v: unknown) => v is DomainError;
export const isConcurrencyError = hasCode('CONCURRENCY') as (v: unknown) => v is ConcurrencyError;
export const isStreamNotFoundError = hasCode('STREAM_NOT_FOUND') as (
  v: unknown,
) => v is StreamNotFoundError;
export const isStreamDeletedError = hasCode('STREAM_DELETED') as (
  v: unknown,
) => v is StreamDeletedError;
export const isValidationError = hasCode('VALIDATION') as (v: unknown) => v is ValidationError;
