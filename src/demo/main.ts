/**
 * `causeway demo` behind the CLI flags: start the system, serve the API on an ephemeral
 * loopback port, run the orders through it, print the summary, and fail loudly when the
 * numbers do not add up.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DemoFlags } from '../cli/commands/demo.js';
import type { ProgressSink } from '../cli/context.js';
import { CliError, ExitCode } from '../cli/errors.js';
import { startDistributed } from './distributed.js';
import { runDemo, serveOrders } from './run.js';
import { startSingleProcess } from './single-process.js';
import { checkSummary, formatSummary, type DemoSummary } from './summary.js';
import type { DemoSystem } from './system.js';

export interface DemoIo {
  write: (line: string) => void | Promise<void>;
  note: (line: string) => void;
  progress: ProgressSink;
  /** `--serve`: resolves when the user wants the API to stop (Ctrl-C). */
  untilStopped?: () => Promise<void>;
}

export async function runDemoCommand(flags: DemoFlags, io: DemoIo): Promise<DemoSummary> {
  if (flags.distributed) {
    if (flags.store === undefined || flags.transport === undefined)
      throw new CliError(
        '--distributed needs --store <postgres-url> and --transport <kafka|rabbitmq|nats>',
        'scripts/services.sh env prints the local URLs',
        ExitCode.UsageError,
      );
    if (!/^postgres(ql)?:\/\//i.test(flags.store))
      throw new CliError('--store must be a postgres:// URL', undefined, ExitCode.UsageError);
    const system = await startDistributed({
      url: flags.store,
      schema: flags.schema ?? 'causeway_demo',
      broker: flags.transport,
      ...(flags.keepBrokerData && { keepBrokerData: true }),
      note: io.note,
    });
    return runOn(system, flags, io);
  }
  if (flags.store !== undefined || flags.transport !== undefined || flags.keepBrokerData)
    throw new CliError(
      '--store, --transport and --keep-broker-data need --distributed',
      'add --distributed, or drop them to run in one process on SQLite',
      ExitCode.UsageError,
    );
  const { filename, cleanup } = sqliteTarget(flags.db);
  try {
    const system = await startSingleProcess(filename);
    return await runOn(system, flags, io);
  } finally {
    cleanup();
  }
}

async function runOn(system: DemoSystem, flags: DemoFlags, io: DemoIo): Promise<DemoSummary> {
  const app = serveOrders(system);
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    io.note(`demo: orders API on ${url} · ${system.description}`);
    const summary = await runDemo(system, url, {
      orders: flags.orders,
      concurrency: flags.concurrency,
      timeoutMs: flags.timeout * 1000,
      progress: io.progress,
    });
    for (const line of formatSummary(summary)) await io.write(line);
    const problems = checkSummary(summary);
    if (problems.length > 0)
      throw new CliError(
        `the demo's numbers do not add up:\n  ${problems.join('\n  ')}`,
        '`causeway sagas list --status running,compensation_failed --db <file>` shows unfinished sagas',
      );
    if (flags.serve && io.untilStopped) {
      io.note(
        `demo: serving ${url}/orders, ${url}/orders?status=confirmed and ${url}/metrics — Ctrl-C stops`,
      );
      for (const [name, metrics] of Object.entries(system.serviceMetricsUrls?.() ?? {}))
        io.note(`demo: ${name} service metrics on ${metrics}`);
      await io.untilStopped();
    }
    return summary;
  } finally {
    await app.close();
    await system.close();
  }
}

/** `--db` must be a new file: the summary counts every order in it. */
function sqliteTarget(db: string | undefined): { filename: string; cleanup: () => void } {
  if (db !== undefined) {
    if (/^postgres(ql)?:\/\//i.test(db))
      throw new CliError(
        'the single-process demo runs on SQLite; --db must be a file',
        'for PostgreSQL use --distributed --store <postgres-url> --transport kafka',
        ExitCode.UsageError,
      );
    if (existsSync(db) && statSync(db).size > 0)
      throw new CliError(
        `${db} already exists`,
        'the demo starts from an empty file: pass a new path',
        ExitCode.UsageError,
      );
    return { filename: db, cleanup: () => undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), 'causeway-demo-'));
  return {
    filename: join(dir, 'demo.db'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
