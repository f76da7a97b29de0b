import type { RecordedEvent, StreamInfo } from '../event-store/types.js';

/** Where a command writes its results (stdout); resolves when the line may be followed by more. */
export type WriteLine = (line: string) => Promise<void>;

/** Prints batches of rows either as an aligned table or as one JSON object per line. */
export interface Printer<T> {
  print(rows: readonly T[]): Promise<void>;
  /** How many rows were printed so far. */
  readonly count: number;
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  alignRight?: boolean;
}

const EVENT_COLUMNS: Column<RecordedEvent>[] = [
  { header: 'POSITION', value: (e) => String(e.globalPosition), alignRight: true },
  { header: 'STREAM@VERSION', value: (e) => `${e.streamId}@${e.streamVersion}` },
  { header: 'TYPE', value: (e) => e.type },
  { header: 'TIME', value: (e) => formatTime(e.time) },
  { header: 'DATA', value: (e) => preview(e.data) },
];

const STREAM_COLUMNS: Column<StreamInfo>[] = [
  { header: 'STREAM', value: (s) => s.streamId },
  { header: 'VERSION', value: (s) => String(s.version), alignRight: true },
  { header: 'STATE', value: (s) => s.state },
  { header: 'UPDATED', value: (s) => formatTime(s.updatedAt) },
];

/** A table (for people) or JSON lines (for scripts) of any row type. */
export function rowPrinter<T>(
  write: WriteLine,
  json: boolean,
  columns: readonly Column<T>[],
  toJson: (row: T) => unknown,
): Printer<T> {
  return json ? jsonPrinter(write, toJson) : tablePrinter(write, columns);
}

export function eventPrinter(write: WriteLine, json: boolean): Printer<RecordedEvent> {
  return json ? jsonPrinter(write, eventToJson) : tablePrinter(write, EVENT_COLUMNS);
}

export function streamPrinter(write: WriteLine, json: boolean): Printer<StreamInfo> {
  return json ? jsonPrinter(write, streamToJson) : tablePrinter(write, STREAM_COLUMNS);
}

/**
 * JSON lines with a fixed key order, and absent optional attributes as `null`, so every
 * line has the same keys and `jq` filters never meet a missing one.
 */
export function eventToJson(e: RecordedEvent): Record<string, unknown> {
  return {
    globalPosition: e.globalPosition,
    streamId: e.streamId,
    streamVersion: e.streamVersion,
    id: e.id,
    type: e.type,
    time: e.time.toISOString(),
    schemaVersion: e.schemaVersion,
    source: e.source,
    subject: e.subject ?? null,
    datacontenttype: e.datacontenttype,
    correlationid: e.correlationid ?? null,
    causationid: e.causationid ?? null,
    traceparent: e.traceparent ?? null,
    partitionkey: e.partitionkey ?? null,
    data: e.data,
    metadata: e.metadata,
  };
}

export function streamToJson(s: StreamInfo): Record<string, unknown> {
  return {
    streamId: s.streamId,
    version: s.version,
    state: s.state,
    metadata: s.metadata,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

function jsonPrinter<T>(write: WriteLine, toJson: (row: T) => unknown): Printer<T> {
  let count = 0;
  return {
    get count() {
      return count;
    },
    async print(rows) {
      for (const row of rows) {
        await write(JSON.stringify(toJson(row)));
        count++;
      }
    },
  };
}

/**
 * Column widths only ever grow, so a followed tail stays aligned with the rows already on
 * screen unless a later value is wider than anything seen before.
 */
function tablePrinter<T>(write: WriteLine, columns: readonly Column<T>[]): Printer<T> {
  const widths = columns.map((c) => c.header.length);
  let count = 0;
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, i) => {
        if (i === cells.length - 1) return cell; // no trailing spaces
        const width = widths[i] ?? 0;
        return columns[i]?.alignRight ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ');
  return {
    get count() {
      return count;
    },
    async print(rows) {
      if (rows.length === 0) return;
      const cells = rows.map((row) => columns.map((c) => c.value(row)));
      for (const line of cells) {
        line.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
      }
      if (count === 0) await write(render(columns.map((c) => c.header)));
      for (const line of cells) await write(render(line));
      count += rows.length;
    },
  };
}

/** Rows are printed in batches, so a large store starts printing at once. */
export async function printAll<T>(
  rows: AsyncIterable<T>,
  printer: Printer<T>,
  batchSize = 200,
): Promise<void> {
  let batch: T[] = [];
  for await (const row of rows) {
    batch.push(row);
    if (batch.length >= batchSize) {
      await printer.print(batch);
      batch = [];
    }
  }
  await printer.print(batch);
}

/** Second precision is enough to scan a log; `--json` has the exact time. */
export function formatTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const PREVIEW_LENGTH = 60;

/** One line of the payload, cut to fit a terminal row. */
export function preview(data: unknown, max = PREVIEW_LENGTH): string {
  const text = typeof data === 'string' ? data : (JSON.stringify(data) ?? String(data));
  const oneLine = text.replace(/\s*\n\s*/g, ' ');
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}
