import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Emmett, the benchmark peer, lives in `bench/peers/` (its own package and lock file) so
 * Causeway's dependency tree never contains it. It is loaded at run time through a
 * `require` rooted there; these interfaces type the small part of its API the bench uses.
 */

export const PEERS_DIR = fileURLToPath(new URL('./peers/', import.meta.url));
export const PEERS_INSTALL_COMMAND =
  'bash bench/peers/install.sh   (or: npm --prefix bench/peers ci)';

export interface EmmettEvent {
  type: string;
  data: Record<string, unknown>;
}

export interface EmmettAppendOptions {
  expectedStreamVersion?: bigint;
}

export interface EmmettEventStore {
  appendToStream(
    streamName: string,
    events: EmmettEvent[],
    options?: EmmettAppendOptions,
  ): Promise<{ nextExpectedStreamVersion: bigint }>;
}

export interface EmmettBatch {
  messages: readonly unknown[];
  currentGlobalPosition: bigint;
}

export interface EmmettSqliteConnection {
  close(): void;
  querySingle<T>(sql: string, values?: unknown[]): Promise<T | null>;
}

export interface EmmettSqliteModule {
  sqliteConnection(options: { fileName: string }): EmmettSqliteConnection;
  getSQLiteEventStore(options: {
    fileName: string;
    connectionOptions?: { singleton: true; connection: EmmettSqliteConnection };
  }): EmmettEventStore & { schema: { migrate(): Promise<unknown> } };
  readMessagesBatch(
    connection: EmmettSqliteConnection,
    options: { after: bigint; batchSize: number },
  ): Promise<EmmettBatch>;
}

/** dumbo's SQL executor, passed through to Emmett untouched. */
export interface EmmettSqlExecutor {
  readonly __emmettExecutor: unique symbol;
}

export interface EmmettPostgresModule {
  getPostgreSQLEventStore(
    connectionString: string,
  ): EmmettEventStore & { close(): Promise<void>; schema: { migrate(): Promise<unknown> } };
  readMessagesBatch(
    execute: EmmettSqlExecutor,
    options: { after: bigint; batchSize: number },
  ): Promise<EmmettBatch>;
}

export interface DumboModule {
  dumbo(options: { connectionString: string }): {
    execute: EmmettSqlExecutor;
    close(): Promise<void>;
  };
}

export type Peer<T> = { ok: true; module: T; version: string } | { ok: false; reason: string };

/** True when `bench/peers/node_modules` looks installed. */
export function peersInstalled(): boolean {
  return existsSync(new URL('./peers/node_modules/.package-lock.json', import.meta.url));
}

const requirePeer = createRequire(new URL('./peers/package.json', import.meta.url));

function load<T>(name: string, exports: readonly string[]): Peer<T> {
  if (!peersInstalled()) {
    return {
      ok: false,
      reason: `${name} is not installed; install the bench peers with: ${PEERS_INSTALL_COMMAND}`,
    };
  }
  try {
    const loaded: unknown = requirePeer(name);
    const missing = exports.filter(
      (key) =>
        typeof loaded !== 'object' ||
        loaded === null ||
        typeof (loaded as Record<string, unknown>)[key] !== 'function',
    );
    if (missing.length > 0)
      return { ok: false, reason: `${name} does not export ${missing.join(', ')}` };
    // Read from disk: the peers' `exports` maps do not expose their package.json.
    const manifest = new URL(`./peers/node_modules/${name}/package.json`, import.meta.url);
    const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
    // Checked structurally above; the interfaces name only what the bench calls.
    return { ok: true, module: loaded as T, version };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return {
      ok: false,
      reason: `${name} failed to load (${message}); reinstall with: ${PEERS_INSTALL_COMMAND}`,
    };
  }
}

export function loadEmmettSqlite(): Peer<EmmettSqliteModule> {
  return load('@event-driven-io/emmett-sqlite', [
    'sqliteConnection',
    'getSQLiteEventStore',
    'readMessagesBatch',
  ]);
}

export function loadEmmettPostgres(): Peer<EmmettPostgresModule> {
  return load('@event-driven-io/emmett-postgresql', [
    'getPostgreSQLEventStore',
    'readMessagesBatch',
  ]);
}

export function loadDumbo(): Peer<DumboModule> {
  return load('@event-driven-io/dumbo', ['dumbo']);
}
