import type { Command } from 'commander';
import type { ProjectionState } from '../../projections/projection.js';
import type { CommandRunner } from '../context.js';
import { CliError } from '../errors.js';
import { formatTime, preview, rowPrinter, type Column, type WriteLine } from '../format.js';
import { integerAtLeast } from '../options.js';
import { registerRebuildCommand } from './projection-rebuild.js';
import {
  leaseHeld,
  projectionRows,
  projectionToJson,
  selectByName,
  withHead,
  type ProjectionRow,
} from './projection-rows.js';

interface VersionFlags {
  projectionVersion?: number;
}

const LIST_COLUMNS: Column<ProjectionRow>[] = [
  { header: 'NAME', value: (p) => p.name },
  { header: 'VERSION', value: (p) => String(p.version), alignRight: true },
  { header: 'STATUS', value: (p) => p.status },
  { header: 'PAUSED', value: (p) => (p.paused ? 'yes' : 'no') },
  { header: 'POSITION', value: (p) => String(p.position), alignRight: true },
  { header: 'HEAD', value: (p) => String(p.head), alignRight: true },
  { header: 'LAG', value: (p) => (p.lag === null ? '-' : String(p.lag)), alignRight: true },
  { header: 'LEASE', value: (p) => lease(p) },
  { header: 'ERROR', value: (p) => (p.error === undefined ? '-' : preview(p.error, 50)) },
];

export function registerProjectionsCommands(program: Command, run: CommandRunner): void {
  const projections = program
    .command('projections')
    .description('inspect, pause, resume and rebuild projections (read models)');

  projections
    .command('list')
    .description('one line per projection version: status, checkpoint, lag, lease, error')
    .action((_flags: unknown, command: Command) =>
      run(command, async ({ store, projections, json, write, note }) => {
        const rows = await projectionRows(await projections(), await store.headPosition());
        await rowPrinter(write, json, LIST_COLUMNS, projectionToJson).print(rows);
        if (rows.length === 0 && !json) note(NO_PROJECTIONS);
      }),
    );

  projections
    .command('status')
    .description('details of every version of one projection (of all when no name is given)')
    .argument('[name]', 'projection name')
    .action((name: string | undefined, _flags: unknown, command: Command) =>
      run(command, async ({ store, projections, json, write, note }) => {
        let rows = await projectionRows(await projections(), await store.headPosition());
        if (name !== undefined) rows = selectByName(rows, name);
        if (json) {
          for (const row of rows) await write(JSON.stringify(projectionToJson(row)));
          return;
        }
        if (rows.length === 0) note(NO_PROJECTIONS);
        for (const [i, row] of rows.entries()) {
          if (i > 0) await write('');
          await printStatus(write, row);
        }
      }),
    );

  for (const [verb, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    projections
      .command(verb)
      .description(
        paused
          ? 'stop every runner from advancing a projection (they let go of it within a heartbeat)'
          : 'let runners advance a paused projection again',
      )
      .argument('<name>', 'projection name')
      .option(
        // Not `--version`: that is the program's own flag, and commander sees it anywhere.
        '--projection-version <n>',
        'only this version (default: every version that is not retired)',
        integerAtLeast(1),
      )
      .action((name: string, flags: VersionFlags, command: Command) =>
        run(command, async ({ store, projections, json, write, note }) => {
          const projectionStore = await projections();
          const head = await store.headPosition();
          const targets = selectByName(await projectionRows(projectionStore, head), name).filter(
            (row) =>
              flags.projectionVersion === undefined
                ? row.status !== 'retired'
                : row.version === flags.projectionVersion,
          );
          if (targets.length === 0) {
            throw new CliError(
              `projection "${name}" has no ${flags.projectionVersion === undefined ? 'active or building version' : `version ${flags.projectionVersion}`}`,
              `\`causeway projections status ${name}\` shows its versions`,
            );
          }
          for (const target of targets) {
            await projectionStore.setPaused(target.name, target.version, paused);
            const state = await projectionStore.get(target.name, target.version);
            if (state && json) await write(JSON.stringify(projectionToJson(withHead(state, head))));
            const already = target.paused === paused ? ` (it already was)` : '';
            note(`${paused ? 'paused' : 'resumed'} ${target.name} v${target.version}${already}`);
          }
        }),
      );
  }

  registerRebuildCommand(projections, run);
}

const NO_PROJECTIONS =
  '(no projections: a runner or `causeway projections rebuild` records them here)';

function lease(row: ProjectionState): string {
  if (row.leaseOwner === undefined) return '-';
  if (!leaseHeld(row)) return `${row.leaseOwner} (expired)`;
  const left = Math.ceil(((row.leaseExpiresAt?.getTime() ?? 0) - Date.now()) / 1000);
  return `${row.leaseOwner} (${left}s left)`;
}

async function printStatus(write: WriteLine, row: ProjectionRow): Promise<void> {
  const field = (label: string, value: string) => write(`  ${label.padEnd(9)} ${value}`);
  await write(`${row.name} v${row.version}`);
  await field('status', row.status);
  await field('paused', row.paused ? 'yes: no runner advances it until resumed' : 'no');
  const lag = row.lag === null ? 'retired, no longer updated' : `lag ${row.lag}`;
  await field('position', `${row.position} of head ${row.head} (${lag})`);
  await field(
    'lease',
    row.leaseOwner === undefined
      ? 'free'
      : `${lease(row)}, until ${row.leaseExpiresAt === undefined ? '?' : formatTime(row.leaseExpiresAt)}`,
  );
  await field('error', row.error ?? 'none');
  await field('updated', formatTime(row.updatedAt));
}
