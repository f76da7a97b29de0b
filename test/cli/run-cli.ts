import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The CLI runs from its TypeScript sources, exactly as `npm start` runs the demo: the
 * tests then check the code in the working tree, not a `dist/` that may be stale. Paths are
 * absolute so a test can run it from another working directory (config lookup).
 */
const TSX = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('tsx')).href;
const SOURCE_ARGS = ['--conditions=source', '--import', TSX, join(ROOT, 'src/cli/main.ts')];

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** An environment without the caller's CAUSEWAY_* settings, so only the flags count. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env['CAUSEWAY_DB'];
  delete env['CAUSEWAY_PG_SCHEMA'];
  if (extra['CAUSEWAY_DEBUG'] === undefined) delete env['CAUSEWAY_DEBUG'];
  return env;
}

export function startCli(
  args: readonly string[],
  env?: Record<string, string>,
  cwd: string = ROOT,
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [...SOURCE_ARGS, ...args], { cwd, env: cleanEnv(env) });
}

/** Runs `node <script> ...args` (the CLI sources unless `script` is given) to completion. */
export function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; command?: readonly string[]; cwd?: string } = {},
): Promise<CliResult> {
  const child = options.command
    ? spawn(process.execPath, [...options.command, ...args], {
        cwd: ROOT,
        env: cleanEnv(options.env),
      })
    : startCli(args, options.env, options.cwd);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Collects a child's output line by line and resolves `waitFor` as soon as a matching
 * line arrives: tests wait on the output itself, never on a timer.
 */
export class LineReader {
  readonly lines: string[] = [];
  #partial = '';
  #waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  #ended: Error | undefined;
  #rejectors = new Set<(error: Error) => void>();

  constructor(stream: NodeJS.ReadableStream, name: string) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop() ?? '';
      for (const line of parts) this.#push(line);
    });
    stream.on('end', () => {
      this.#ended = new Error(
        `${name} ended before the expected line; got:\n${this.lines.join('\n')}`,
      );
      for (const reject of this.#rejectors) reject(this.#ended);
    });
  }

  waitFor(match: (line: string) => boolean): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#rejectors.add(reject);
      this.#waiters.push({
        match,
        resolve: (line) => {
          this.#rejectors.delete(reject);
          resolve(line);
        },
      });
    });
  }

  #push(line: string): void {
    this.lines.push(line);
    const ready = this.#waiters.filter((w) => w.match(line));
    this.#waiters = this.#waiters.filter((w) => !w.match(line));
    for (const waiter of ready) waiter.resolve(line);
  }
}

/** The non-empty lines of a command's output. */
export const outputLines = (text: string) => text.split('\n').filter((line) => line !== '');

/** A `--json` command's output: one object per line. */
export const jsonLines = (text: string) =>
  outputLines(text).map((line) => JSON.parse(line) as Record<string, unknown>);

/** Polls `check` until it holds: for state another process changes (a broker, a database). */
export async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
