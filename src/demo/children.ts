/**
 * The service processes of distributed mode: started with the same Node flags as the parent
 * (TypeScript sources need tsx and the `source` condition), watched for their `ready` line
 * (which names each one's `/metrics` URL), and — for the crash test — killed and started again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CausewayError, TimeoutError } from '../core/errors.js';
import type { ServiceName } from './services.js';

/** Raised when a service process exits before it is ready (its stderr says why). */
export class ServiceStartError extends CausewayError {
  constructor(service: ServiceName, detail: string) {
    super('SERVICE_START_FAILED', `The ${service} service process did not start: ${detail}`);
  }
}

function entry(): { file: string; nodeArgs: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(
    new URL(`./service-process.${fromSource ? 'ts' : 'js'}`, import.meta.url),
  );
  if (!fromSource) return { file, nodeArgs: [] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { file, nodeArgs: ['--conditions=source', '--import', tsx] };
}

export class ServiceProcess {
  #child: ChildProcess | undefined;
  #stderr = '';
  #metricsUrl: string | undefined;

  constructor(
    readonly service: ServiceName,
    private readonly args: readonly string[],
    private readonly readyTimeoutMs = 60_000,
  ) {}

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The process's own `GET /metrics` (a new port after each start). */
  get metricsUrl(): string | undefined {
    return this.#metricsUrl;
  }

  /** Spawns the process; resolves once it printed `ready <service> <metrics-url>`. */
  async start(): Promise<void> {
    const { file, nodeArgs } = entry();
    const child = spawn(process.execPath, [...nodeArgs, file, this.service, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-4_000);
    });
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new TimeoutError(`${this.service} was not ready after ${this.readyTimeoutMs} ms`)),
        this.readyTimeoutMs,
      );
      const fail = (detail: string) => {
        clearTimeout(timer);
        reject(new ServiceStartError(this.service, detail));
      };
      child.once('error', (error) => fail(error.message));
      child.once('exit', (code, signal) =>
        fail(`exited with ${signal ?? code} before it was ready\n${this.#stderr.trim()}`),
      );
      lines.on('line', (line) => {
        const [word, service, metricsUrl] = line.split(' ');
        if (word !== 'ready' || service !== this.service || metricsUrl === undefined) return;
        this.#metricsUrl = metricsUrl;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve();
      });
    });
  }

  /** SIGKILL: no drain, no goodbye — what a crashed host looks like to the others. */
  async kill(): Promise<void> {
    await this.#signal('SIGKILL');
  }

  /** SIGTERM: the process drains its consumer and exits. */
  async stop(): Promise<void> {
    await this.#signal('SIGTERM');
  }

  async #signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }
}
