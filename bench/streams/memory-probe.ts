import { JOBS, type Contestant, type JobName } from './jobs.js';

/**
 * `node --expose-gc … memory-probe.ts <job> <contestant> <records>`: one pass of one
 * contestant in a process of its own, printing its memory as one JSON line on stdout. The
 * input is generated and garbage-collected first, so "above input" is what the pass added.
 */
export interface MemoryProbe {
  /** RSS after the input was generated and collected. */
  inputRssMiB: number;
  /** The highest RSS sampled during the pass. */
  peakRssMiB: number;
  /** The highest heap in use sampled during the pass, minus the heap the input holds. */
  peakHeapAboveInputMiB: number;
  /** `process.resourceUsage().maxRSS`: the process's peak, input generation included. */
  maxRssMiB: number;
}

const MiB = 2 ** 20;

function main(): void {
  const [job, contestant, records] = process.argv.slice(2);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const prepared = JOBS[job as JobName].prepare(Number(records));
  gc();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  prepared.contestants[contestant as Contestant](() => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakHeap = Math.max(peakHeap, now.heapUsed);
  });
  const round = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;
  const probe: MemoryProbe = {
    inputRssMiB: round(before.rss),
    peakRssMiB: round(peakRss),
    peakHeapAboveInputMiB: round(peakHeap - before.heapUsed),
    maxRssMiB: round(process.resourceUsage().maxRSS * 1024),
  };
  process.stdout.write(`${JSON.stringify(probe)}\n`);
}

main();
