import type { Command } from 'commander';
import type { Direction, ListStreamsOptions, ReadStreamOptions } from '../../event-store/types.js';
import type { CommandRunner } from '../context.js';
import { eventPrinter, printAll, streamPrinter } from '../format.js';
import { integerAtLeast } from '../options.js';

interface ListFlags {
  prefix?: string;
  limit?: number;
  includeDeleted?: boolean;
}

interface ReadFlags {
  from?: number;
  backwards?: boolean;
  limit?: number;
}

export function registerStreamsCommands(program: Command, run: CommandRunner): void {
  const streams = program.command('streams').description('list streams and read their events');

  streams
    .command('list')
    .description('list streams in id order')
    .option('--prefix <prefix>', 'only streams whose id starts with <prefix>')
    .option('--limit <n>', 'at most <n> streams', integerAtLeast(1))
    .option('--include-deleted', 'include soft-deleted and tombstoned streams')
    .action((flags: ListFlags, command: Command) =>
      run(command, async ({ store, json, write, note }) => {
        const options: ListStreamsOptions = {
          ...(flags.prefix === undefined ? {} : { prefix: flags.prefix }),
          ...(flags.limit === undefined ? {} : { limit: flags.limit }),
          includeDeleted: flags.includeDeleted === true,
        };
        const printer = streamPrinter(write, json);
        await printAll(store.listStreams(options), printer);
        if (printer.count === 0 && !json) note('(no streams)');
      }),
    );

  streams
    .command('read')
    .description("print a stream's events")
    .argument('<id>', 'stream id')
    .option('--from <version>', 'start at this stream version (inclusive)', integerAtLeast(0))
    .option('--backwards', 'newest first')
    .option('--limit <n>', 'at most <n> events', integerAtLeast(1))
    .action((streamId: string, flags: ReadFlags, command: Command) =>
      run(command, async ({ store, json, write, note }) => {
        const direction: Direction = flags.backwards === true ? 'backwards' : 'forwards';
        const options: ReadStreamOptions = {
          direction,
          ...(flags.from === undefined ? {} : { from: flags.from }),
          ...(flags.limit === undefined ? {} : { limit: flags.limit }),
        };
        const printer = eventPrinter(write, json);
        await printAll(store.readStream(streamId, options), printer);
        if (printer.count === 0 && !json) note(`(no events in ${streamId} from there)`);
      }),
    );
}
