import type { Command } from 'commander';
import type { EventStore } from '../../event-store/event-store.js';
import type { EventFilter, RecordedEvent } from '../../event-store/types.js';
import type { CommandRunner } from '../context.js';
import { eventPrinter, type Printer } from '../format.js';
import { integerAtLeast } from '../options.js';

interface TailFlags {
  from?: number;
  last: number;
  type?: string[];
  streamPrefix?: string;
  follow: boolean;
}

const PAGE_SIZE = 200;
/**
 * Another process's commits cannot wake us up, so a followed tail polls. A quarter of a
 * second feels live to a person and costs one indexed query per tick.
 */
const POLL_MS = 250;

export function registerEventsCommands(program: Command, run: CommandRunner): void {
  const events = program.command('events').description('read the global event log');

  events
    .command('tail')
    .description('print the latest events, then follow new ones until Ctrl-C')
    .option(
      '--from <position>',
      'start at this global position (inclusive) instead of the last events',
      integerAtLeast(0),
    )
    .option('--last <n>', 'how many of the latest events to print first', integerAtLeast(1), 20)
    .option('--type <type...>', 'only events of these types')
    .option('--stream-prefix <prefix>', 'only events of streams whose id starts with <prefix>')
    .option('--no-follow', 'print and exit instead of following')
    .action((flags: TailFlags, command: Command) =>
      run(command, async ({ store, json, write, note }) => {
        const filter: EventFilter = {
          ...(flags.type === undefined ? {} : { types: flags.type }),
          ...(flags.streamPrefix === undefined ? {} : { streamPrefix: flags.streamPrefix }),
        };
        const printer = eventPrinter(write, json);
        let after: number;
        if (flags.from === undefined) {
          const head = await store.headPosition();
          await printer.print(await lastEvents(store, flags.last, head, filter));
          after = head;
        } else {
          after = Math.max(0, flags.from - 1);
        }
        if (!flags.follow) {
          await printUntilEnd(store, after, filter, printer);
          return;
        }
        await followUntilInterrupted(async (signal) => {
          after = await printUntilEnd(store, after, filter, printer);
          note('following new events (Ctrl-C to stop)');
          while (!signal.aborted) {
            await pause(POLL_MS, signal);
            after = await printUntilEnd(store, after, filter, printer);
          }
        });
      }),
    );
}

/** Prints everything after `after` up to the current safe end of the log; returns where it got. */
async function printUntilEnd(
  store: EventStore,
  after: number,
  filter: EventFilter,
  printer: Printer<RecordedEvent>,
): Promise<number> {
  let position = after;
  for (;;) {
    const page = await store.readAllPage(position, PAGE_SIZE, filter);
    await printer.print(page.events);
    position = Math.max(position, page.scannedUpTo);
    if (page.isEnd) return position;
  }
}

/**
 * The newest `count` matching events at or below `head`. The log can only be read forwards,
 * so look back over a window that grows fourfold until it holds enough matches: a selective
 * filter costs a few reads, never a scan of the whole log up front.
 */
async function lastEvents(
  store: EventStore,
  count: number,
  head: number,
  filter: EventFilter,
): Promise<RecordedEvent[]> {
  for (let window = count; ; window *= 4) {
    const start = Math.max(1, head - window + 1);
    const found: RecordedEvent[] = [];
    let matched = 0;
    for await (const event of store.readAll({ fromPosition: start, filter })) {
      if (event.globalPosition > head) break;
      found.push(event);
      matched++;
      if (found.length > count) found.shift();
    }
    if (matched >= count || start === 1) return found;
  }
}

/** Runs `body` until Ctrl-C (or SIGTERM), which ends the tail cleanly with exit code 0. */
async function followUntilInterrupted(body: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  // `once`: a second Ctrl-C falls through to Node's default and kills a stuck process.
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await body(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
