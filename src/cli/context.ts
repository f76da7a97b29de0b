import type { Command } from 'commander';
import type { EventStore } from '../event-store/event-store.js';
import type { ProjectionStore } from '../projections/projection.js';
import type { WriteLine } from './format.js';

/** Where progress for a person goes (stderr); a terminal gets a redrawn bar, a log plain lines. */
export interface ProgressSink {
  readonly isTTY: boolean;
  write(text: string): void;
}

/** What a command body gets: an open store (closed for it afterwards) and its outputs. */
export interface CommandContext {
  store: EventStore;
  /** The projection store in the same database, opened on first use and closed afterwards. */
  projections: () => Promise<ProjectionStore>;
  json: boolean;
  /** Results, to stdout. */
  write: WriteLine;
  /** Status meant for a person (stderr), so stdout stays clean for pipes. */
  note: (line: string) => void;
  progress: ProgressSink;
}

/** Opens the store named by the global options of `command`, runs `body`, closes the store. */
export type CommandRunner = (
  command: Command,
  body: (context: CommandContext) => Promise<void>,
) => Promise<void>;
