import { isCausewayError } from '../core/errors.js';

/**
 * Exit codes are part of the CLI's contract (scripts branch on them), so they are named
 * once here: 0 ok, 1 the command ran and failed, 2 the command line itself was wrong.
 */
export const ExitCode = { Ok: 0, RuntimeError: 1, UsageError: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI can explain: a message, an optional next step and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: ExitCode = ExitCode.RuntimeError,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

export interface Failure {
  message: string;
  hint: string | undefined;
  exitCode: ExitCode;
}

/** Turns anything a command threw into the two lines a user sees. */
export function describeFailure(error: unknown): Failure {
  if (error instanceof CliError) {
    return { message: error.message, hint: error.hint, exitCode: error.exitCode };
  }
  if (isCausewayError(error)) {
    return { message: error.message, hint: HINTS[error.code], exitCode: ExitCode.RuntimeError };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    message,
    hint: 'set CAUSEWAY_DEBUG=1 to see the stack trace',
    exitCode: ExitCode.RuntimeError,
  };
}

const HINTS: Partial<Record<string, string>> = {
  STORE_UNAVAILABLE:
    'check that the database is running and that --db points at it ' +
    '(scripts/services.sh up postgres starts a local PostgreSQL)',
  STREAM_NOT_FOUND: '`causeway streams list` shows the streams that exist',
  SAGA_NOT_FOUND: '`causeway sagas list` shows the saga instances there are',
  SAGA_INVALID_STATE: '`causeway sagas show <id>` shows its steps, attempts and errors',
  UPCAST_FAILED:
    'the CLI reads events without your registry; use --json to see the raw stored data',
};

/** The stack and `cause` chain, for CAUSEWAY_DEBUG=1. */
export function debugDetails(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    lines.push(
      depth === 0 ? '' : 'caused by:',
      current instanceof Error ? (current.stack ?? current.message) : String(current),
    );
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.filter((line) => line !== '').join('\n');
}
