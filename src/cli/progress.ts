import type { ProjectionProgress } from '../projections/projection-runner.js';
import type { ProgressSink } from './context.js';

/** A terminal redraws at most this often: faster only burns CPU the rebuild could use. */
const REDRAW_MS = 100;
/** A log gets a line per tenth of the way, and one at least this often if a tenth is slow. */
const LOG_EVERY_MS = 10_000;
const BAR_WIDTH = 24;

export interface ProgressView {
  update(progress: ProjectionProgress): void;
  /** Draws the last state for good; later (late) updates are ignored. */
  finish(): void;
}

/**
 * Rebuild progress on stderr: a bar with events/s and ETA on a terminal, plain lines in a log
 * or a CI job (where `\r` redraws would pile up into one unreadable line).
 */
export function progressView(sink: ProgressSink, label: string, unit = 'events'): ProgressView {
  let last: ProjectionProgress | undefined;
  let finished = false;
  let drawnAt = 0;
  let loggedTenth = -1;
  const draw = (progress: ProjectionProgress) => {
    drawnAt = performance.now();
    if (sink.isTTY) sink.write(`\r\x1b[K${barLine(label, progress, unit)}`);
    else {
      loggedTenth = tenth(progress);
      sink.write(`${plainLine(label, progress, unit)}\n`);
    }
  };
  return {
    update(progress) {
      // Reports are sent after their batch commits and may arrive late or out of order.
      if (finished || (last !== undefined && progress.position < last.position)) return;
      last = progress;
      const now = performance.now();
      const due = sink.isTTY
        ? now - drawnAt >= REDRAW_MS
        : tenth(progress) > loggedTenth || now - drawnAt >= LOG_EVERY_MS;
      if (due) draw(progress);
    },
    finish() {
      if (finished) return;
      finished = true;
      if (last === undefined) return;
      if (sink.isTTY) {
        draw(last);
        sink.write('\n');
      } else if (tenth(last) > loggedTenth) draw(last);
    },
  };
}

function fraction(progress: ProjectionProgress): number {
  if (progress.head <= 0) return 1;
  return Math.min(1, progress.position / progress.head);
}

/** Whole percent, in integer arithmetic so 30% is never printed as 29% (0.3 * 100 < 30). */
function wholePercent(progress: ProjectionProgress): number {
  if (progress.head <= 0) return 100;
  return Math.min(100, Math.floor((progress.position * 100) / progress.head));
}

function tenth(progress: ProjectionProgress): number {
  return Math.floor(wholePercent(progress) / 10);
}

function barLine(label: string, progress: ProjectionProgress, unit: string): string {
  const done = Math.round(fraction(progress) * BAR_WIDTH);
  const bar = `${'█'.repeat(done)}${'░'.repeat(BAR_WIDTH - done)}`;
  return `${label} ${bar} ${percent(progress)} ${counts(progress)} · ${speed(progress, unit)} · ETA ${eta(progress)}`;
}

function plainLine(label: string, progress: ProjectionProgress, unit: string): string {
  return `${label}: ${percent(progress)} (${counts(progress)}, ${speed(progress, unit)}, ETA ${eta(progress)})`;
}

function percent(progress: ProjectionProgress): string {
  return `${wholePercent(progress)}%`.padStart(4);
}

function counts(progress: ProjectionProgress): string {
  return `${progress.position.toLocaleString('en-US')}/${progress.head.toLocaleString('en-US')}`;
}

function speed(progress: ProjectionProgress, unit: string): string {
  return `${Math.round(progress.eventsPerSecond).toLocaleString('en-US')} ${unit}/s`;
}

/** Time left at the rate so far; positions count every event of the log, handled or not. */
export function eta(progress: ProjectionProgress): string {
  const left = Math.max(0, progress.head - progress.position);
  if (left === 0) return '0s';
  if (progress.eventsPerSecond <= 0) return '?';
  return duration(left / progress.eventsPerSecond);
}

export function duration(seconds: number): string {
  if (seconds < 10) return `${Math.max(0.1, seconds).toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
