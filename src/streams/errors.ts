import { CausewayError } from '../core/errors.js';

/**
 * An operator's function threw while processing a record. The runtime stops: state may
 * hold part of that record's effects, so it refuses further records and commits, and the
 * application restarts from the last committed positions (whose state excludes them).
 */
export class OperatorFailedError extends CausewayError {
  constructor(
    readonly source: string,
    readonly position: string,
    cause: unknown,
  ) {
    super(
      'HANDLER_FAILED',
      `Processing record ${position} from "${source}" failed: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        'The runtime stopped; restart it from the last committed positions.',
      { cause },
    );
  }
  override toJSON() {
    return { ...super.toJSON(), source: this.source, position: this.position };
  }
}

/**
 * Another process took this state scope over (a newer generation claimed it, or the lease
 * expired and was claimed): this backend's commit was refused and nothing of it was
 * written. Stop processing the scope; its new owner resumes from the last commit.
 */
export class StateFencedError extends CausewayError {
  constructor(
    readonly scope: string,
    readonly generation: number,
  ) {
    super(
      'LEASE_LOST',
      `State scope "${scope}" is no longer held by generation ${generation}: another process took it over. ` +
        'Stop processing it; the new owner resumes from the last commit.',
    );
  }
  override toJSON() {
    return { ...super.toJSON(), scope: this.scope, generation: this.generation };
  }
}
