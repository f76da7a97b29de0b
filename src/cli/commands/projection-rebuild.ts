import type { Command } from 'commander';
import type {
  ProjectionDefinition,
  ProjectionState,
  ProjectionStore,
} from '../../projections/projection.js';
import { rebuildBlueGreen, rebuildProjection } from '../../projections/rebuild.js';
import { loadConfig, type LoadedConfig } from '../config.js';
import type { CommandContext, CommandRunner } from '../context.js';
import { CliError } from '../errors.js';
import { integerAtLeast } from '../options.js';
import { duration, progressView } from '../progress.js';
import { unknownProjection } from './projection-rows.js';

interface RebuildFlags {
  config?: string;
  blueGreen?: boolean;
  batchSize: number;
}

type Mode = 'in-place' | 'blue-green';

export function registerRebuildCommand(projections: Command, run: CommandRunner): void {
  projections
    .command('rebuild')
    .description(
      'replay the whole log into a projection: in place, or with --blue-green into new tables ' +
        'while the active version keeps serving',
    )
    .argument('<name>', 'projection name (as in the config)')
    .option(
      '--config <file>',
      'module whose default export lists your projections (default ./causeway.config.ts or .js)',
    )
    .option(
      '--blue-green',
      "build the config's newer version beside the active one; queries switch when it has caught up",
    )
    .option('--batch-size <n>', 'events per transaction', integerAtLeast(1), 500)
    .action(async (name: string, flags: RebuildFlags, command: Command) => {
      // The config is read before the database is opened: a typo fails without touching it.
      const config = await loadConfig(flags.config);
      const projection = pickProjection(config, name);
      await run(command, (context) => rebuild(context, config, projection, flags));
    });
}

/** The config's highest version of `name`: the code the rebuild runs. */
function pickProjection(config: LoadedConfig, name: string): ProjectionDefinition {
  const versions = config.projections.filter((p) => p.name === name);
  const newest = versions.reduce<ProjectionDefinition | undefined>(
    (best, p) => (best === undefined || p.version > best.version ? p : best),
    undefined,
  );
  if (newest !== undefined) return newest;
  const known = [...new Set(config.projections.map((p) => p.name))];
  throw unknownProjection(name, known, `in ${config.file}`);
}

async function rebuild(
  context: CommandContext,
  config: LoadedConfig,
  projection: ProjectionDefinition,
  flags: RebuildFlags,
): Promise<void> {
  const { store, json, write, note } = context;
  const projections = await context.projections();
  const mode: Mode = flags.blueGreen === true ? 'blue-green' : 'in-place';
  const versions = (await projections.list()).filter((s) => s.name === projection.name);
  const active = versions.find((s) => s.status === 'active');
  const own = versions.find((s) => s.version === projection.version);
  if (mode === 'blue-green') checkBlueGreen(config, projection, active, own);
  else checkInPlace(config, projection, active);

  const label = `${projection.name} v${projection.version}`;
  note(
    mode === 'in-place'
      ? `rebuilding ${label} in place: queries see its tables fill up again`
      : `building ${label} beside v${active?.version}, which keeps serving until the switch`,
  );
  const view = progressView(context.progress, label);
  const interrupted = onInterrupt(() => {
    view.finish();
    note(interruptedNote(mode, projection));
  });
  const started = performance.now();
  try {
    const options = {
      store,
      projections,
      projection,
      batchSize: flags.batchSize,
      onProgress: view.update,
    };
    const { position } = await (mode === 'in-place'
      ? rebuildProjection(options)
      : rebuildBlueGreen(options));
    // An in-place rebuild resumes the projection when done: keep a pause the user asked for.
    if (mode === 'in-place' && own?.paused === true)
      await projections.setPaused(projection.name, projection.version, true);
    view.finish();
    const seconds = (performance.now() - started) / 1000;
    await report(
      write,
      json,
      { projection, mode, position, seconds, previous: active },
      projections,
    );
  } finally {
    view.finish();
    interrupted.dispose();
  }
}

function checkInPlace(
  config: LoadedConfig,
  projection: ProjectionDefinition,
  active: ProjectionState | undefined,
): void {
  if (active === undefined || active.version === projection.version) return;
  throw new CliError(
    `${projection.name} v${active.version} is active, but ${config.file} has v${projection.version}`,
    projection.version > active.version
      ? `add --blue-green to build v${projection.version} beside v${active.version} and switch queries once it has caught up`
      : `an in-place rebuild needs the code of the active version (v${active.version})`,
  );
}

function checkBlueGreen(
  config: LoadedConfig,
  projection: ProjectionDefinition,
  active: ProjectionState | undefined,
  own: ProjectionState | undefined,
): void {
  const { name, version } = projection;
  if (active === undefined) {
    throw new CliError(
      `${name} has no active version to keep serving while v${version} builds`,
      'run without --blue-green: a first version is built in place',
    );
  }
  if (active.version >= version) {
    throw new CliError(
      active.version === version
        ? `${name} v${version} is already active`
        : `${name} v${active.version} is active, newer than v${version} in ${config.file}`,
      `bump the version of ${name} in ${config.file} to build a new one beside v${active.version}`,
    );
  }
  if (own?.status === 'retired') {
    throw new CliError(
      `${name} v${version} was retired already`,
      `bump the version of ${name} in ${config.file} past v${version}`,
    );
  }
  if (own?.paused === true) {
    throw new CliError(
      `${name} v${version} is paused, so it cannot catch up`,
      `causeway projections resume ${name} --projection-version ${version}`,
    );
  }
}

async function report(
  write: CommandContext['write'],
  json: boolean,
  result: {
    projection: ProjectionDefinition;
    mode: Mode;
    position: number;
    seconds: number;
    previous: ProjectionState | undefined;
  },
  projections: ProjectionStore,
): Promise<void> {
  const { projection, mode, position, seconds, previous } = result;
  const state = await projections.get(projection.name, projection.version);
  const eventsPerSecond = seconds > 0 ? Math.round(position / seconds) : 0;
  if (json) {
    await write(
      JSON.stringify({
        name: projection.name,
        version: projection.version,
        mode,
        position,
        seconds: Math.round(seconds * 1000) / 1000,
        eventsPerSecond,
        status: state?.status ?? null,
        paused: state?.paused ?? null,
        previousVersion: mode === 'blue-green' ? (previous?.version ?? null) : null,
      }),
    );
    return;
  }
  const took = `${position.toLocaleString('en-US')} events in ${duration(seconds)} (${eventsPerSecond.toLocaleString('en-US')} events/s)`;
  const label = `${projection.name} v${projection.version}`;
  await write(
    mode === 'in-place'
      ? `rebuilt ${label} in place: ${took}${state?.paused === true ? '; still paused, as before' : ''}`
      : `built ${label}: ${took}; queries now read it, v${previous?.version} is retired (its tables stay until dropped)`,
  );
}

function interruptedNote(mode: Mode, projection: ProjectionDefinition): string {
  const { name, version } = projection;
  return mode === 'in-place'
    ? `interrupted: ${name} v${version} stays paused at its last committed batch; ` +
        `\`causeway projections resume ${name}\` lets a runner finish from there, or rebuild again`
    : `interrupted: ${name} v${version} keeps its checkpoint and the active version keeps serving; ` +
        'run the same rebuild again to continue';
}

/**
 * Ctrl-C ends the process at once (what a person expects), after saying what state the
 * projection is left in. Every batch commits with its checkpoint, so nothing is half-applied.
 */
function onInterrupt(explain: () => void): { dispose(): void } {
  const stop = () => {
    explain();
    process.exit(1);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    dispose() {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}
