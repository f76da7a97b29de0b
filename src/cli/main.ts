import { once } from 'node:events';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { registerDemoCommand, type DemoRunner } from './commands/demo.js';
import { registerDlqCommands, type DlqRunner } from './commands/dlq.js';
import { registerEventsCommands } from './commands/events.js';
import { registerProjectionsCommands } from './commands/projections.js';
import { registerSagasCommands, type SagasRunner } from './commands/sagas.js';
import { registerStreamsCommands } from './commands/streams.js';
import type { CommandRunner } from './context.js';
import { debugDetails, describeFailure, ExitCode } from './errors.js';
import type { WriteLine } from './format.js';
import {
  openDeadLetters,
  parseDeadLetterTarget,
  type DeadLetterFlags,
} from './open-dead-letters.js';
import { openSagaStore } from './open-sagas.js';
import { DEFAULT_DB, openStore, parseDbTarget } from './open-store.js';
import type { GlobalOptions } from './options.js';

/** Runs the `causeway` command line (`argv` as in `process.argv`) and returns its exit code. */
export async function runCli(argv: readonly string[]): Promise<ExitCode> {
  const write = lineWriter(process.stdout);
  const note = (line: string) => void process.stderr.write(`${line}\n`);
  const run: CommandRunner = async (command, body) => {
    const { db, json, schema } = command.optsWithGlobals<GlobalOptions>();
    const opened = await openStore(parseDbTarget(db, schema));
    try {
      await body({
        store: opened.store,
        projections: opened.projections,
        json: json === true,
        write,
        note,
        progress: {
          isTTY: process.stderr.isTTY === true,
          write: (text) => void process.stderr.write(text),
        },
      });
    } finally {
      await opened.close();
    }
  };

  const runDlq: DlqRunner = async (command, body) => {
    // Commander leaves absent options out, so the flags spread as `DeadLetterFlags` wants them.
    const { json, ...flags } = command.optsWithGlobals<
      GlobalOptions & Omit<DeadLetterFlags, 'db' | 'dbGiven' | 'schema'>
    >();
    let root = command;
    while (root.parent) root = root.parent;
    const opened = await openDeadLetters(
      parseDeadLetterTarget({ ...flags, dbGiven: root.getOptionValueSource('db') === 'cli' }),
    );
    try {
      await body({ store: opened.store, json: json === true, write, note });
    } finally {
      await opened.close();
    }
  };

  const runSagas: SagasRunner = async (command, body) => {
    const { db, json, schema } = command.optsWithGlobals<GlobalOptions>();
    const opened = await openSagaStore(parseDbTarget(db, schema));
    try {
      await body({ store: opened.store, json: json === true, write, note });
    } finally {
      await opened.close();
    }
  };

  const runDemo: DemoRunner = async (flags) => {
    // Loaded on demand: fastify and prom-client are optional peers the other commands never need.
    const { runDemoCommand } = await import('../demo/main.js');
    await runDemoCommand(flags, {
      write,
      note,
      progress: {
        isTTY: process.stderr.isTTY === true,
        write: (text) => void process.stderr.write(text),
      },
      untilStopped: () =>
        new Promise((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        }),
    });
  };

  const program = buildProgram(run, runDlq, runSagas, runDemo);
  try {
    await program.parseAsync([...argv]);
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExitCode(error);
    if (error instanceof BrokenPipe) return ExitCode.Ok;
    const failure = describeFailure(error);
    note(`error: ${failure.message}`);
    if (failure.hint !== undefined) note(`hint: ${failure.hint}`);
    if (process.env['CAUSEWAY_DEBUG'] === '1') note(debugDetails(error));
    return failure.exitCode;
  }
}

function buildProgram(
  run: CommandRunner,
  runDlq: DlqRunner,
  runSagas: SagasRunner,
  runDemo: DemoRunner,
): Command {
  const program = new Command('causeway')
    .description(
      'Inspect a Causeway event store: streams, events, live tail; run and rebuild projections; list, retry and purge dead letters; list, show, resume and abort sagas.',
    )
    .version(packageVersion())
    .addOption(
      new Option('--db <sqlite-file | postgres-url>', 'the store to open')
        .env('CAUSEWAY_DB')
        .default(DEFAULT_DB),
    )
    .addOption(
      new Option(
        '--schema <name>',
        "PostgreSQL only: the schema holding Causeway's tables (default public)",
      ).env('CAUSEWAY_PG_SCHEMA'),
    )
    .option('--json', 'one JSON object per line instead of a table')
    // Subcommand help then lists --db and --json too: they are accepted after the subcommand.
    .configureHelp({ showGlobalOptions: true })
    // Throw instead of exiting, so every failure goes through one exit-code mapping.
    .exitOverride()
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 runtime error (store unreachable, stream, projection or saga missing…), 2 usage error.',
    );
  registerStreamsCommands(program, run);
  registerEventsCommands(program, run);
  registerProjectionsCommands(program, run);
  registerDlqCommands(program, runDlq);
  registerSagasCommands(program, runSagas);
  registerDemoCommand(program, runDemo);
  return program;
}

/**
 * Commander has already printed its message (and the usage, via `showHelpAfterError`);
 * what is left is the code. Help and version asked for on purpose exit with 0; anything
 * else it reports is a usage error.
 */
function commanderExitCode(error: CommanderError): ExitCode {
  return error.exitCode === 0 ? ExitCode.Ok : ExitCode.UsageError;
}

class BrokenPipe extends Error {}

/**
 * Waits for `drain` so a large read into a slow pipe does not pile up in memory.
 * `causeway events tail | head` closes the pipe early: that ends the command quietly.
 */
function lineWriter(stream: NodeJS.WriteStream): WriteLine {
  let broken = false;
  // Without a listener, the EPIPE that follows a closed pipe would crash the process.
  stream.on('error', () => {
    broken = true;
  });
  return async (line) => {
    if (broken) throw new BrokenPipe();
    if (stream.write(`${line}\n`)) return;
    try {
      await once(stream, 'drain');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPIPE') throw new BrokenPipe();
      throw error;
    }
  };
}

function packageVersion(): string {
  // Two levels up from both src/cli/ and dist/cli/.
  const raw = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(raw) as { version: string }).version;
}

/** True when this file is the process entry (`node src/cli/main.ts`), not imported by bin/. */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await runCli(process.argv);
}
