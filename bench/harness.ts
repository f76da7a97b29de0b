import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';

/**
 * The bench harness: time a loop after a warm-up, turn counts into rates, print tables.
 * Every suite reports each case as a ratio against a raw-driver baseline measured in the
 * same process, on the same database, with the same durability settings.
 */

export interface BenchConfig {
  /** Multiplies every duration and data size; `BENCH_SCALE=0.1` is a smoke run. */
  scale: number;
  /** How long each contestant runs a case, after its warm-up. */
  durationMs: number;
  warmupMs: number;
  /**
   * Contestants take turns in this many rounds of `durationMs / rounds` each, so a slow
   * spell of the disk or the server is shared rather than landing on one of them.
   */
  rounds: number;
}

export function benchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const raw = env['BENCH_SCALE'];
  const scale = raw === undefined || raw === '' ? 1 : Number(raw);
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new Error(`BENCH_SCALE must be a positive number, got "${raw}"`);
  }
  const rounds = Number(env['BENCH_ROUNDS'] ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`BENCH_ROUNDS must be a positive integer, got "${env['BENCH_ROUNDS']}"`);
  }
  return { scale, durationMs: Math.round(4000 * scale), warmupMs: Math.round(400 * scale), rounds };
}

/** Scales a size, keeping it a positive multiple of `multiple`. */
export function scaled(size: number, config: BenchConfig, multiple = 1): number {
  return Math.max(multiple, Math.round((size * config.scale) / multiple) * multiple);
}

export interface Rate {
  /** Completed operations inside the timed window. */
  ops: number;
  /** Units (events, appends…) those operations moved. */
  units: number;
  elapsedMs: number;
  /** `units` per second. */
  perSecond: number;
}

/** Adds up rates measured in several windows into one (total units over total time). */
export function combine(rates: readonly Rate[]): Rate {
  const sum = (pick: (r: Rate) => number) => rates.reduce((total, r) => total + pick(r), 0);
  return rate(
    sum((r) => r.ops),
    sum((r) => r.units),
    sum((r) => r.elapsedMs),
  );
}

export function rate(ops: number, units: number, elapsedMs: number): Rate {
  return { ops, units, elapsedMs, perSecond: elapsedMs > 0 ? (units * 1000) / elapsedMs : 0 };
}

export interface LoopOptions {
  durationMs: number;
  warmupMs: number;
  /** Concurrent workers, each running `op` in a loop. Default 1. */
  workers?: number;
  /** Units one call of `op` moves (e.g. 100 events per batch). Default 1. */
  unitsPerOp?: number;
  /** Run at least this many timed operations, even past the duration. Default 1. */
  minOps?: number;
}

/**
 * Runs `op(worker, i)` in `workers` concurrent loops: first for the warm-up (not counted),
 * then until the duration has passed. `i` counts each worker's calls from 0 across both
 * phases, so callers can derive unique stream names from it.
 */
export async function timeLoop(
  op: (worker: number, i: number) => Promise<unknown>,
  options: LoopOptions,
): Promise<Rate> {
  const workers = options.workers ?? 1;
  const unitsPerOp = options.unitsPerOp ?? 1;
  const minOps = options.minOps ?? 1;
  const next = Array.from({ length: workers }, () => 0);

  const phase = async (
    ms: number,
    atLeast: number,
  ): Promise<{ ops: number; elapsedMs: number }> => {
    const start = performance.now();
    const deadline = start + ms;
    let ops = 0;
    await Promise.all(
      next.map(async (_, worker) => {
        while (performance.now() < deadline || ops < atLeast) {
          const i = next[worker] ?? 0;
          next[worker] = i + 1;
          await op(worker, i);
          ops++;
        }
      }),
    );
    return { ops, elapsedMs: performance.now() - start };
  };

  if (options.warmupMs > 0) await phase(options.warmupMs, 0);
  const timed = await phase(options.durationMs, minOps);
  return rate(timed.ops, timed.ops * unitsPerOp, timed.elapsedMs);
}

export interface MachineInfo {
  node: string;
  platform: string;
  arch: string;
  cpuCount: number;
  cpuModel: string;
  totalMemoryGiB: number;
  date: string;
  scale: number;
  /** The commit measured, and whether `src/` had uncommitted changes. */
  revision: string;
}

function revision(): string {
  const git = (...args: string[]) =>
    execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const dirty = git('status', '--porcelain', '--', 'src').length > 0;
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted changes in src/' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export function machineInfo(config: BenchConfig): MachineInfo {
  const list = cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpuCount: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    totalMemoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    date: new Date().toISOString(),
    scale: config.scale,
    revision: revision(),
  };
}

/** One measured case, as written to `bench/results/<suite>.json`. */
export interface CaseResult {
  name: string;
  /** Causeway's rate, or `null` when it could not run (see `notes`). */
  value: number | null;
  unit: string;
  baseline: { name: string; value: number };
  /** `value / baseline.value`: 1.0 means as fast as the raw driver. */
  ratioToBaseline: number | null;
  /**
   * Emmett on the same database: `ratio` is Causeway's rate over Emmett's (2.0 means Causeway
   * is twice as fast); `ratioToBaseline` is Emmett's own rate over the baseline.
   * `null` when the peer is not installed or could not run (see `notes`).
   */
  emmett: { value: number; ratio: number | null; ratioToBaseline: number } | null;
  /** Each contestant's rate per round, to judge the noise. */
  rounds?: Record<string, number[]>;
  notes?: string[];
}

export interface SuiteResult {
  suite: string;
  machine: MachineInfo;
  /** Settings every contestant shared (durability, pool sizes, page sizes…). */
  settings: Record<string, string>;
  cases: CaseResult[];
  /** Cases that could not run at all (e.g. the database is down), with the reason. */
  skipped?: { name: string; reason: string }[];
}

/** What `bench/run.ts` needs from a suite file. */
export interface Suite {
  name: string;
  description: string;
  run(context: SuiteContext): Promise<Omit<SuiteResult, 'suite' | 'machine'>>;
}

export interface SuiteContext {
  config: BenchConfig;
  progress(message: string): void;
}

export function ratio(value: number | null, over: number | null | undefined): number | null {
  if (value === null || over === null || over === undefined || over <= 0) return null;
  return value / over;
}

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export function formatRate(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

export function formatRatio(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×`;
}

/** A plain-text table: left-aligned first column, the others right-aligned. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return column === 0 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ');
  return [
    line(headers),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...rows.map(line),
  ].join('\n');
}

export function resultTable(cases: readonly CaseResult[]): string {
  return formatTable(
    [
      'case',
      'unit',
      'baseline',
      'causeway',
      '×baseline',
      'emmett',
      'causeway/emmett',
      'emmett×baseline',
    ],
    cases.map((result) => [
      result.name,
      result.unit,
      formatRate(result.baseline.value),
      formatRate(result.value),
      formatRatio(result.ratioToBaseline),
      formatRate(result.emmett?.value),
      formatRatio(result.emmett?.ratio),
      formatRatio(result.emmett?.ratioToBaseline),
    ]),
  );
}
