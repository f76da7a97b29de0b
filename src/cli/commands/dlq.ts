import { Option, type Command } from 'commander';
import {
  DeadLetterManager,
  type DeadLetter,
  type DeadLetterQuery,
} from '../../messaging/dead-letters.js';
import type { DeadLetterStore } from '../../messaging/dead-letters.js';
import { pointInTime } from '../duration.js';
import { CliError, ExitCode } from '../errors.js';
import { formatTime, preview, rowPrinter, type Column, type WriteLine } from '../format.js';
import { integerAtLeast } from '../options.js';

/** What a `dlq` command body gets: the open dead-letter store (closed for it) and its outputs. */
export interface DlqContext {
  store: DeadLetterStore;
  json: boolean;
  /** Results, to stdout. */
  write: WriteLine;
  /** Status and progress meant for a person (stderr). */
  note: (line: string) => void;
}

/** Opens the dead letters named by `--db` or a broker flag (`--amqp`, `--sqs`…), runs `body`, closes them. */
export type DlqRunner = (
  command: Command,
  body: (context: DlqContext) => Promise<void>,
) => Promise<void>;

interface FilterFlags {
  destination?: string;
  since?: Date;
  error?: string;
}

const PAGE = 100;

const COLUMNS: Column<DeadLetter>[] = [
  { header: 'ID', value: (l) => l.id, alignRight: true },
  { header: 'DESTINATION', value: (l) => l.destination },
  { header: 'GROUP', value: (l) => l.group },
  { header: 'MESSAGE ID', value: (l) => l.messageId ?? '-' },
  { header: 'REASON', value: (l) => l.failure.reason },
  { header: 'ATTEMPTS', value: (l) => String(l.failure.attempts), alignRight: true },
  { header: 'DEAD-LETTERED', value: (l) => formatTime(l.deadLetteredAt) },
  {
    header: 'ERROR',
    value: (l) => preview(`${l.failure.errorClass}: ${l.failure.errorMessage}`, 50),
  },
];

/** Fixed key order, absent values as `null`, exact times: every line has the same keys. */
export function deadLetterToJson(l: DeadLetter): Record<string, unknown> {
  return {
    id: l.id,
    messageId: l.messageId ?? null,
    destination: l.destination,
    group: l.group,
    deadLetteredAt: l.deadLetteredAt.toISOString(),
    failure: {
      reason: l.failure.reason,
      errorClass: l.failure.errorClass,
      errorMessage: l.failure.errorMessage,
      errorStack: l.failure.errorStack ?? null,
      attempts: l.failure.attempts,
      firstFailureAt: l.failure.firstFailureAt.toISOString(),
      lastFailureAt: l.failure.lastFailureAt.toISOString(),
    },
    message: { headers: l.message.headers, body: l.message.body },
  };
}

function filterOf(flags: FilterFlags): Omit<DeadLetterQuery, 'after' | 'limit'> {
  return {
    ...(flags.destination === undefined ? {} : { destination: flags.destination }),
    ...(flags.since === undefined ? {} : { since: flags.since }),
    ...(flags.error === undefined ? {} : { error: flags.error }),
  };
}

function notFound(id: string): CliError {
  return new CliError(
    `no dead letter with id ${id}`,
    '`causeway dlq list` shows the dead letters there are (it may have been retried or purged)',
    ExitCode.RuntimeError,
  );
}

const destinationOption = () =>
  new Option('--destination <name>', 'only letters of this destination');

export function registerDlqCommands(program: Command, run: DlqRunner): void {
  const dlq = program
    .command('dlq')
    .description(
      'dead letters of the SQL transports (--db), RabbitMQ (--amqp), NATS JetStream (--nats), Kafka (--kafka), Pulsar (--pulsar), Redis (--redis) or SQS (--sqs): list, show, retry, purge',
    )
    .option('--amqp <url>', 'read the dead letters of this RabbitMQ broker instead of --db')
    .option('--amqp-prefix <prefix>', 'with --amqp: the transport’s name prefix (default causeway)')
    .option(
      '--nats <url>',
      'read the dead letters of this NATS JetStream server (or comma-separated cluster) instead of --db',
    )
    .option(
      '--nats-prefix <prefix>',
      'with --nats: the transport’s stream prefix (default causeway)',
    )
    .option(
      '--kafka <brokers>',
      'read the dead letters of this Kafka cluster (host:port, comma-separated) instead of --db',
    )
    .option(
      '--kafka-prefix <prefix>',
      'with --kafka: the transport’s topic prefix (default causeway)',
    )
    .option(
      '--pulsar <url>',
      'read the dead letters of this Pulsar broker (its web service, http://host:8080) instead of --db',
    )
    .option(
      '--pulsar-namespace <tenant/namespace>',
      'with --pulsar: where the transport’s topics are (default public/default)',
    )
    .option(
      '--redis <url>',
      'read the dead letters of this Redis server (redis://[user:password@]host:6379) instead of --db',
    )
    .option(
      '--redis-prefix <prefix>',
      'with --redis: the transport’s key prefix (default causeway)',
    )
    .option(
      '--sqs <region | endpoint>',
      'read the dead letters of Amazon SQS in this region, or at this endpoint URL (LocalStack, moto), instead of --db; credentials from the AWS SDK chain (AWS_ACCESS_KEY_ID, AWS_PROFILE…)',
    )
    .option('--sqs-prefix <prefix>', 'with --sqs: the transport’s queue prefix (default causeway)')
    .option(
      '--sqs-region <region>',
      'with --sqs <endpoint>: its region (default: the SDK’s, AWS_REGION)',
    )
    .option('--sqs-fifo', 'with --sqs: the transport uses FIFO queues');

  dlq
    .command('list')
    .description('list dead letters, oldest first')
    .addOption(destinationOption())
    .option(
      '--since <age | ISO time>',
      'only letters dead-lettered since then (7d, 12h, 2025-01-31…)',
      pointInTime(),
    )
    .option('--error <text>', 'only letters whose error class or message contains <text>')
    .option('--limit <n>', 'at most <n> letters', integerAtLeast(1))
    .action((flags: FilterFlags & { limit?: number }, command: Command) =>
      run(command, async ({ store, json, write, note }) => {
        const printer = rowPrinter(write, json, COLUMNS, deadLetterToJson);
        const filter = filterOf(flags);
        let after: string | undefined;
        for (;;) {
          const left =
            flags.limit === undefined ? PAGE : Math.min(PAGE, flags.limit - printer.count);
          if (left <= 0) break;
          const page = await store.list({
            ...filter,
            limit: left,
            ...(after === undefined ? {} : { after }),
          });
          await printer.print(page);
          if (page.length < left) break;
          after = page.at(-1)!.id;
        }
        if (printer.count === 0 && !json) note('(no dead letters)');
      }),
    );

  dlq
    .command('show')
    .description('print one dead letter: its failure, headers and body')
    .argument('<id>', 'dead-letter id (from `dlq list`)')
    .action((id: string, _flags: unknown, command: Command) =>
      run(command, async ({ store, json, write }) => {
        const letter = await store.get(id);
        if (letter === undefined) throw notFound(id);
        if (json) {
          await write(JSON.stringify(deadLetterToJson(letter)));
          return;
        }
        const f = letter.failure;
        const lines = [
          `id:             ${letter.id}`,
          `message id:     ${letter.messageId ?? '-'}`,
          `destination:    ${letter.destination}`,
          `group:          ${letter.group}`,
          `dead-lettered:  ${letter.deadLetteredAt.toISOString()}`,
          `reason:         ${f.reason}`,
          `attempts:       ${f.attempts}`,
          `first failure:  ${f.firstFailureAt.toISOString()}`,
          `last failure:   ${f.lastFailureAt.toISOString()}`,
          `error:          ${f.errorClass}: ${f.errorMessage}`,
          'headers:',
          ...Object.entries(letter.message.headers).map(([k, v]) => `  ${k}: ${v}`),
          'body:',
          `  ${letter.message.body}`,
          ...(f.errorStack === undefined
            ? []
            : ['stack:', ...f.errorStack.split('\n').map((l) => `  ${l}`)]),
        ];
        for (const line of lines) await write(line);
      }),
    );

  dlq
    .command('retry')
    .description('send one dead letter back to its group (first attempt, same message id)')
    .argument('<id>', 'dead-letter id (from `dlq list`)')
    .action((id: string, _flags: unknown, command: Command) =>
      run(command, async ({ store, json, write }) => {
        if (!(await new DeadLetterManager(store).retry(id))) throw notFound(id);
        await write(json ? JSON.stringify({ id, retried: true }) : `retried ${id}`);
      }),
    );

  dlq
    .command('retry-all')
    .description('send every matching dead letter back to its group (progress on stderr)')
    .addOption(destinationOption())
    .action((flags: FilterFlags, command: Command) =>
      run(command, async ({ store, json, write, note }) => {
        const retried = await new DeadLetterManager(store).retryAll(
          filterOf(flags),
          ({ done, total }) => note(`retried ${done}/${total}`),
        );
        await write(json ? JSON.stringify({ retried }) : `retried ${retried} dead letter(s)`);
      }),
    );

  dlq
    .command('purge')
    .description('delete dead letters for good (all, or those matching the flags)')
    .addOption(destinationOption())
    .option(
      '--older-than <age | ISO time>',
      'only letters dead-lettered before then (7d, 12h, 2025-01-31…)',
      pointInTime(),
    )
    .action((flags: { destination?: string; olderThan?: Date }, command: Command) =>
      run(command, async ({ store, json, write }) => {
        const purged = await store.purge({
          ...(flags.destination === undefined ? {} : { destination: flags.destination }),
          ...(flags.olderThan === undefined ? {} : { olderThan: flags.olderThan }),
        });
        await write(json ? JSON.stringify({ purged }) : `purged ${purged} dead letter(s)`);
      }),
    );

  dlq
    .command('count')
    .description('how many dead letters there are')
    .addOption(destinationOption())
    .action((flags: FilterFlags, command: Command) =>
      run(command, async ({ store, json, write }) => {
        const count = await store.count(filterOf(flags));
        await write(json ? JSON.stringify({ count }) : String(count));
      }),
    );
}
