import { Option, type Command } from 'commander';
import { integerAtLeast } from '../options.js';

/** The `demo` flags as commander parses them. */
export interface DemoFlags {
  orders: number;
  concurrency: number;
  serve?: boolean;
  /** A SQLite file (single process) when `--db` was given on the command line. */
  db?: string;
  /** Distributed mode: the PostgreSQL schema (global `--schema`); default `causeway_demo`. */
  schema?: string;
  distributed?: boolean;
  store?: string;
  transport?: 'kafka' | 'rabbitmq' | 'nats';
  /** Distributed mode: leave the run's topics/queues/streams on the broker. */
  keepBrokerData?: boolean;
  timeout: number;
}

export type DemoRunner = (flags: DemoFlags) => Promise<void>;

/**
 * `causeway demo`: the order-fulfilment flow end to end (what `npm start` runs). The demo's
 * code — fastify, prom-client and the services — loads only when the command runs.
 */
export function registerDemoCommand(program: Command, run: DemoRunner): void {
  program
    .command('demo')
    .description(
      'Run the order-fulfilment demo: an HTTP API, the order aggregate, outbox, transport, projection and a compensating saga across four services; places orders and prints a summary.',
    )
    .addOption(
      new Option('--orders <n>', 'orders to place through the HTTP API')
        .argParser(integerAtLeast(1))
        .default(200),
    )
    .addOption(
      new Option('--concurrency <n>', 'HTTP requests in flight at once')
        .argParser(integerAtLeast(1))
        .default(16),
    )
    .addOption(
      new Option('--timeout <seconds>', 'give up (exit 1, naming stuck orders) after this long')
        .argParser(integerAtLeast(1))
        .default(120),
    )
    .option('--serve', 'after the run, keep the API up (prints its URL) until Ctrl-C')
    .option(
      '--distributed',
      'run orders, inventory, payments and shipping as four processes (needs --store and --transport)',
    )
    .option(
      '--store <postgres-url>',
      'distributed mode: the PostgreSQL database (the demo drops and recreates its schema, --schema, default causeway_demo)',
    )
    .addOption(
      new Option('--transport <broker>', 'distributed mode: the broker').choices([
        'kafka',
        'rabbitmq',
        'nats',
      ]),
    )
    .option(
      '--keep-broker-data',
      "distributed mode: leave the run's topics/queues/streams on the broker (prints their prefix and how to list the dead letters); by default a run deletes them",
    )
    .addHelpText(
      'after',
      '\nWithout --db the demo uses a new SQLite file in a temporary directory.\nExamples:\n  causeway demo\n  causeway demo --orders 1000 --serve\n  causeway demo --distributed --store postgres://postgres:postgres@127.0.0.1:5432/causeway --transport kafka',
    )
    .action(async (_options: unknown, command: Command) => {
      const flags = command.opts<DemoFlags>();
      let root = command;
      while (root.parent) root = root.parent;
      // `--db` is a global flag with a default: only a file named on purpose replaces the temp one.
      const source = root.getOptionValueSource('db');
      const { db, schema } = root.opts<{ db: string; schema?: string }>();
      await run({
        ...flags,
        ...(source === 'cli' || source === 'env' ? { db } : {}),
        ...(schema !== undefined && { schema }),
      });
    });
}
