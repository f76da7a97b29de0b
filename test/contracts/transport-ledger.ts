/**
 * The ledger of the crash cases: one line per handled message, appended by whichever process
 * handled it, after the handler's effect and before the ack. Whatever a kill -9 leaves behind
 * is on disk, so the test can count what was handled, where, and how often.
 */
import { open, readFile } from 'node:fs/promises';
import type { HarnessOptions } from './transport-harness.js';

export interface LedgerEntry {
  /** The message id. */
  id: string;
  /** Which consumer handled it: the process that was killed, or the one that took over. */
  by: string;
  attempt: number;
}

export interface Ledger {
  record(entry: LedgerEntry): Promise<void>;
  close(): Promise<void>;
}

/** Opens `path` for appending; several processes may append to one ledger at once. */
export async function openLedger(path: string): Promise<Ledger> {
  // O_APPEND: each line is one write() at the end of the file, never interleaved with another
  // process's line.
  const file = await open(path, 'a');
  return {
    async record(entry) {
      await file.write(`${JSON.stringify(entry)}\n`);
      // kill -9 alone would not lose the page cache; the sync makes the ledger mean "durable",
      // as an effect in a database would be.
      await file.datasync();
    },
    close: () => file.close(),
  };
}

export async function readLedger(path: string): Promise<LedgerEntry[]> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as LedgerEntry);
}

/** What the parent hands `transport-worker.ts` (as JSON in `CAUSEWAY_TRANSPORT_WORKER`). */
export interface WorkerSpec {
  /** The harness module and its options (`TransportHarness.worker`). */
  module: string;
  options: HarnessOptions;
  destination: string;
  group: string;
  ledger: string;
  /** The name this worker writes in the ledger's `by`. */
  name: string;
  concurrency: number;
  prefetch: number;
  /** How long each handler works before recording, so deliveries are in flight at the kill. */
  workMs: number;
}

export const WORKER_ENV = 'CAUSEWAY_TRANSPORT_WORKER';
