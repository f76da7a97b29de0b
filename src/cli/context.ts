import type { Command } from 'commander';
import type { EventStore } from '../event-store/event-store.js';
import type { WriteLine } from './format.js';

/** What a command body gets: an open store (closed for it afterwards) and its outputs. */
export interface CommandContext {
  store: EventStore;
  json: boolean;
  /** Results, to stdout. */
  write: WriteLine;
  /** Status meant for a person (stderr), so stdout stays clean for pipes. */
  note: (line: string) => void;
}

/** Opens the store named by the global options of `command`, runs `body`, closes the store. */
export type CommandRunner = (
  command: Command,
  body: (context: CommandContext) => Promise<void>,
) => Promise<void>;
