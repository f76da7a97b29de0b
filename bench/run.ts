import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PEERS_INSTALL_COMMAND, peersInstalled } from './emmett.js';
import {
  benchConfig,
  machineInfo,
  progress,
  resultTable,
  type Suite,
  type SuiteResult,
} from './harness.js';

/**
 * `npm run bench -- <suite>...`: runs the named suites (all when none is named), prints a
 * table per suite to stdout and writes `bench/results/<suite>.json`. Progress goes to stderr.
 * `BENCH_SCALE` scales durations and data sizes (default 1, about 2-3 minutes per full run).
 */

const SUITES: Record<string, () => Promise<Suite>> = {
  'event-store': async () => (await import('./event-store.bench.js')).suite,
  projections: async () => (await import('./projections.bench.js')).suite,
  transports: async () => (await import('./transports.bench.js')).suite,
  streams: async () => (await import('./streams.bench.js')).suite,
  sagas: async () => (await import('./sagas.bench.js')).suite,
};

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

function usage(): string {
  return [
    'usage: npm run bench -- [suite...]',
    `suites: ${Object.keys(SUITES).join(', ')}`,
    'env: BENCH_SCALE (default 1), BENCH_ROUNDS (default 5), CAUSEWAY_PG_URL, CAUSEWAY_AMQP_URL, CAUSEWAY_NATS_URL, CAUSEWAY_KAFKA_BROKERS, BENCH_TRANSPORTS, BENCH_DATA_DIR (SQLite files; default $TMPDIR/causeway-bench)',
  ].join('\n');
}

/** One line per distinct note, naming the cases it applies to (most notes repeat per case). */
function groupNotes(entries: readonly { name: string; note: string }[]): string[] {
  const byNote = new Map<string, string[]>();
  for (const { name, note } of entries) byNote.set(note, [...(byNote.get(note) ?? []), name]);
  return [...byNote].map(([note, names]) => `- ${note}\n    (${names.join('; ')})`);
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return 0;
  }
  const unknown = argv.filter((name) => !(name in SUITES));
  if (unknown.length > 0) {
    console.error(`unknown suite: ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const names = argv.length > 0 ? argv : Object.keys(SUITES);
  const config = benchConfig();
  if (!peersInstalled()) {
    progress(
      `Emmett (the peer columns) is not installed; they will be empty. Install it with:\n    ${PEERS_INSTALL_COMMAND}`,
    );
  }

  for (const name of names) {
    const load = SUITES[name];
    if (!load) continue;
    const suite = await load();
    const started = performance.now();
    progress(`suite ${suite.name}: ${suite.description}`);
    const machine = machineInfo(config);
    const outcome = await suite.run({ config, progress });
    const result: SuiteResult = { suite: suite.name, machine, ...outcome };
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = `${RESULTS_DIR}${suite.name}.json`;
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);

    console.log(
      `\n${suite.name}  (node ${result.machine.node}, ${result.machine.cpuCount} CPUs, scale ${config.scale})\n`,
    );
    console.log(resultTable(result.cases));
    const notes = groupNotes([
      ...result.cases.flatMap((c) => (c.notes ?? []).map((note) => ({ name: c.name, note }))),
      ...(result.skipped ?? []).map(({ name, reason }) => ({ name, note: `skipped: ${reason}` })),
    ]);
    if (notes.length > 0) console.log(`\nnotes:\n${notes.join('\n')}`);
    console.log(
      `\n×baseline = causeway / raw driver; causeway/emmett = causeway / emmett (>1: Causeway faster).`,
    );
    progress(
      `suite ${suite.name} done in ${((performance.now() - started) / 1000).toFixed(1)} s; wrote ${file}`,
    );
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
