import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableStateBackend, StreamRuntime, type StreamRecord, type Topology } from 'causeway';
import { openSqliteDatabase, SqliteStateRepository } from 'causeway/sqlite';
import { COMMIT_EVERY } from './causeway.js';
import type { Outcome } from './workload.js';

/**
 * The Causeway contestant on durable state: the same topology and input, with a
 * `DurableStateBackend` over SQLite (a fresh file per pass, WAL, the adapter's durability
 * settings). Each commit writes the changed state, the positions and the outputs (as outbox
 * rows, as a durable deployment keeps them) in one transaction, every `COMMIT_EVERY` records.
 */

const LATE = 'late';

export function sqliteStateDir(): string {
  return process.env['BENCH_DATA_DIR'] ?? join(tmpdir(), 'causeway-bench');
}

export async function sqliteStatePass(
  topology: Topology,
  sources: readonly string[] | string,
  records: readonly StreamRecord[],
  checksumOf: (value: unknown) => number,
): Promise<Outcome> {
  const dir = sqliteStateDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'streams-state.db');
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  const db = openSqliteDatabase(file);
  try {
    const backend = await DurableStateBackend.open({
      repository: new SqliteStateRepository(db),
      scope: topology.name,
    });
    if (backend === undefined) throw new Error(`state scope ${topology.name} is held`);
    const runtime = new StreamRuntime(topology, { backend });
    const outcome: Outcome = { outputs: 0, checksum: 0, late: 0 };
    // The outputs go to the outbox inside the commit; they are tallied on their way there.
    const tally = () => {
      for (const output of runtime.pending) {
        if (output.sink === LATE) outcome.late++;
        else {
          outcome.outputs++;
          outcome.checksum += checksumOf(output.value);
        }
      }
    };
    for (let i = 0; i < records.length; i++) {
      const source = typeof sources === 'string' ? sources : (sources[i] as string);
      runtime.process(source, records[i] as StreamRecord);
      if (i % COMMIT_EVERY === COMMIT_EVERY - 1) {
        tally();
        await runtime.commit();
      }
    }
    tally();
    await runtime.commit();
    return outcome;
  } finally {
    db.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  }
}
