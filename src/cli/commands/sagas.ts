import { hostname } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { SagaNotFoundError, SagaStateError } from '../../sagas/errors.js';
import type { SagaInstance, SagaStatus, SagaStore } from '../../sagas/saga-store.js';
import { CliError } from '../errors.js';
import { rowPrinter, type WriteLine } from '../format.js';
import { pointInTime } from '../duration.js';
import { integerAtLeast } from '../options.js';
import { ATTEMPT_COLUMNS, SAGA_COLUMNS, sagaDetailLines, sagaToJson } from './sagas-format.js';

/** What a `sagas` command body gets: the open saga store (closed for it) and its outputs. */
export interface SagasContext {
  store: SagaStore;
  json: boolean;
  /** Results, to stdout. */
  write: WriteLine;
  /** Status meant for a person (stderr). */
  note: (line: string) => void;
}

/** Opens the saga store named by `--db`, runs `body`, closes the store. */
export type SagasRunner = (
  command: Command,
  body: (context: SagasContext) => Promise<void>,
) => Promise<void>;

const STATUSES: readonly SagaStatus[] = [
  'running',
  'compensating',
  'completed',
  'failed',
  'compensation_failed',
];

/** `--status running,compensation_failed`: a usage error names the statuses there are. */
function statusList(value: string, previous: SagaStatus[] = []): SagaStatus[] {
  const statuses = value.split(',').map((s) => s.trim());
  for (const status of statuses)
    if (!STATUSES.includes(status as SagaStatus))
      throw new InvalidArgumentError(
        `"${status}" is not a status; expected ${STATUSES.join(', ')}.`,
      );
  return [...previous, ...(statuses as SagaStatus[])];
}

const PAGE = 100;

/**
 * Who the CLI is in a lease: it holds one only for the moment it writes (re-opening a failed
 * compensation), like a runtime would, so a runtime driving the instance is never overwritten.
 */
const CLI_OWNER = `causeway-cli@${hostname()}:${process.pid}`;
const CLI_LEASE_MS = 30_000;

async function requireInstance(store: SagaStore, id: string): Promise<SagaInstance> {
  const instance = await store.get(id);
  if (!instance) throw new SagaNotFoundError(id);
  return instance;
}

function refuseSettled(instance: SagaInstance, action: 'resume' | 'abort'): void {
  if (instance.status !== 'completed' && instance.status !== 'failed') return;
  throw new SagaStateError(
    instance.id,
    instance.status,
    action === 'resume'
      ? `Saga "${instance.id}" is ${instance.status}: every step is done or compensated; there is nothing to resume.`
      : `Saga "${instance.id}" is ${instance.status}; only an unfinished saga can be aborted.`,
  );
}

function heldElsewhere(instance: SagaInstance): CliError {
  return new CliError(
    `saga ${instance.id} is held by ${instance.leaseOwner ?? 'another runtime'} (lease until ${instance.leaseExpiresAt?.toISOString() ?? '?'})`,
    'a runtime is driving it; `causeway sagas show <id>` follows its progress, or try again once the lease has expired',
  );
}

/**
 * Re-opens a `compensation_failed` instance as `compensating` with a fresh attempt budget,
 * from the compensation that failed (what `SagaRuntime.resume` does), under a lease of the
 * CLI's own, then frees it: the next runtime with the saga registered claims it.
 */
async function retryCompensation(store: SagaStore, instance: SagaInstance): Promise<SagaInstance> {
  const leased = await store.acquireLease(instance.id, CLI_OWNER, CLI_LEASE_MS);
  if (!leased) throw heldElsewhere(instance);
  try {
    if (leased.status === 'compensation_failed')
      await store.save(
        { ...leased, status: 'compensating', attempt: 0, updatedAt: new Date() },
        CLI_OWNER,
        CLI_LEASE_MS,
      );
  } finally {
    await store.releaseLease(instance.id, CLI_OWNER);
  }
  return requireInstance(store, instance.id);
}

/** What `resume` and `abort` did, for people and for `--json`. */
async function report(
  write: WriteLine,
  json: boolean,
  instance: SagaInstance,
  action: string,
  text: string,
): Promise<void> {
  await write(
    json
      ? JSON.stringify({
          id: instance.id,
          action,
          status: instance.status,
          currentStep: instance.currentStep ?? null,
          leaseOwner: instance.leaseOwner ?? null,
          abortRequestedAt: instance.abortRequestedAt?.toISOString() ?? null,
        })
      : text,
  );
}

function reportRetried(write: WriteLine, json: boolean, resumed: SagaInstance): Promise<void> {
  const from = resumed.error?.step ?? resumed.currentStep ?? '?';
  return report(
    write,
    json,
    resumed,
    'compensation_retried',
    `resumed ${resumed.id}: compensating again from "${from}"; ${pickUp(resumed)}`,
  );
}

const pickUp = (i: SagaInstance) =>
  `the next runtime with saga "${i.name}" registered picks it up (SagaRuntime.start() polls for such instances)`;

export function registerSagasCommands(program: Command, run: SagasRunner): void {
  const sagas = program
    .command('sagas')
    .description(
      'saga instances in --db: list, show (steps, attempts, errors), resume, abort, purge',
    );

  sagas
    .command('list')
    .description('list saga instances, ordered by id (UUIDv7 ids: oldest first)')
    .option(
      '--status <status[,status…]>',
      `only instances in these statuses (${STATUSES.join(', ')})`,
      statusList,
    )
    .option('--name <saga>', 'only instances of this saga')
    .option('--limit <n>', 'at most <n> instances', integerAtLeast(1))
    .action((flags: { status?: SagaStatus[]; name?: string; limit?: number }, command: Command) =>
      run(command, async ({ store, json, write, note }) => {
        const printer = rowPrinter(write, json, SAGA_COLUMNS, sagaToJson);
        let after: string | undefined;
        for (;;) {
          const left =
            flags.limit === undefined ? PAGE : Math.min(PAGE, flags.limit - printer.count);
          if (left <= 0) break;
          const page = await store.list({
            ...(flags.status === undefined ? {} : { status: flags.status }),
            ...(flags.name === undefined ? {} : { name: flags.name }),
            ...(after === undefined ? {} : { after }),
            limit: left,
          });
          await printer.print(page);
          if (page.length < left) break;
          after = page.at(-1)!.id;
        }
        if (printer.count === 0 && !json) note('(no saga instances)');
      }),
    );

  sagas
    .command('show')
    .description(
      'print one instance: status, steps, data, and every attempt with its error and timing',
    )
    .argument('<id>', 'saga instance id (from `sagas list`)')
    .action((id: string, _flags: unknown, command: Command) =>
      run(command, async ({ store, json, write }) => {
        const instance = await requireInstance(store, id);
        if (json) return write(JSON.stringify(sagaToJson(instance)));
        for (const line of sagaDetailLines(instance)) await write(line);
        if (instance.history.length === 0) return;
        await write('');
        await rowPrinter(write, false, ATTEMPT_COLUMNS, () => undefined).print(
          instance.history.map((attempt, n) => ({ ...attempt, n: n + 1 })),
        );
      }),
    );

  sagas
    .command('resume')
    .description(
      'retry the compensation of a compensation_failed instance, or free an abandoned one for the next runtime',
    )
    .argument('<id>', 'saga instance id')
    .action((id: string, _flags: unknown, command: Command) =>
      run(command, async ({ store, json, write }) => {
        const instance = await requireInstance(store, id);
        refuseSettled(instance, 'resume');
        if (instance.status === 'compensation_failed')
          return reportRetried(write, json, await retryCompensation(store, instance));
        // Running or compensating: resumable only if nobody drives it. Taking the lease is
        // how to know (by the store's clock); it is given back at once, free for a runtime.
        if (!(await store.acquireLease(id, CLI_OWNER, CLI_LEASE_MS))) throw heldElsewhere(instance);
        await store.releaseLease(id, CLI_OWNER);
        const free = await requireInstance(store, id);
        return report(
          write,
          json,
          free,
          'released',
          `${id} is ${free.status} at step "${free.currentStep ?? '-'}" and no runtime holds it: ${pickUp(free)}`,
        );
      }),
    );

  sagas
    .command('abort')
    .description(
      'compensate now: the runtime driving the instance stops its step and undoes the completed ones',
    )
    .argument('<id>', 'saga instance id')
    .action((id: string, _flags: unknown, command: Command) =>
      run(command, async ({ store, json, write }) => {
        const instance = await requireInstance(store, id);
        refuseSettled(instance, 'abort');
        // As SagaRuntime.abort does: compensating is what an abort asks for.
        if (instance.status === 'compensation_failed')
          return reportRetried(write, json, await retryCompensation(store, instance));
        const requested = await store.requestAbort(id);
        if (!requested) throw new SagaNotFoundError(id);
        const who =
          requested.leaseOwner === undefined
            ? pickUp(requested)
            : `${requested.leaseOwner} (lease until ${requested.leaseExpiresAt!.toISOString()}) sees it at its next heartbeat, or ${pickUp(requested).replace(/^the next/, 'else the next')}`;
        return report(
          write,
          json,
          requested,
          'abort_requested',
          requested.status === 'compensating'
            ? `${id} is already compensating; the abort request is recorded`
            : `abort requested for ${id} at ${requested.abortRequestedAt!.toISOString()}: ${who}`,
        );
      }),
    );

  sagas
    .command('purge')
    .description(
      'delete finished instances (completed and failed by default) that ended before --older-than',
    )
    .requiredOption(
      '--older-than <age | ISO time>',
      'only instances that ended before then (7d, 12h, 2025-01-31…)',
      pointInTime(),
    )
    .option(
      '--status <status[,status…]>',
      'these finished statuses instead (completed, failed, compensation_failed)',
      statusList,
    )
    .option('--name <saga>', 'only instances of this saga')
    .action((flags: { olderThan: Date; status?: SagaStatus[]; name?: string }, command: Command) =>
      run(command, async ({ store, json, write }) => {
        const purged = await store.purge({
          olderThan: flags.olderThan,
          ...(flags.status === undefined ? {} : { statuses: flags.status }),
          ...(flags.name === undefined ? {} : { name: flags.name }),
        });
        await write(
          json
            ? JSON.stringify({ purged, olderThan: flags.olderThan.toISOString() })
            : `purged ${purged} saga instance(s) that ended before ${flags.olderThan.toISOString()}`,
        );
      }),
    );
}
