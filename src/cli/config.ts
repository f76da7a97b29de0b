import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TsxEsmApi from 'tsx/esm/api';
import type { ProjectionDefinition } from '../projections/projection.js';
import { CliError, ExitCode } from './errors.js';

/**
 * The config module gives the CLI what the database cannot: the projections' code. Its default
 * export (or a named `projections` export) is a list of `ProjectionDefinition`s.
 */
export const DEFAULT_CONFIG_FILES = ['causeway.config.ts', 'causeway.config.js'] as const;

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

export interface LoadedConfig {
  file: string;
  projections: ProjectionDefinition[];
}

export async function loadConfig(
  file: string | undefined,
  cwd: string = process.cwd(),
): Promise<LoadedConfig> {
  const path = findConfig(file, cwd);
  if (TYPESCRIPT.has(extname(path))) await registerTypeScript(path);
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(
      `could not load the config ${path}: ${error instanceof Error ? error.message : String(error)}`,
      'set CAUSEWAY_DEBUG=1 to see the stack trace',
      ExitCode.RuntimeError,
      { cause: error },
    );
  }
  return { file: path, projections: projectionsOf(loaded, path) };
}

function findConfig(file: string | undefined, cwd: string): string {
  if (file !== undefined) {
    const path = resolve(cwd, file);
    if (!existsSync(path)) throw new CliError(`config file ${path} does not exist`);
    return path;
  }
  for (const name of DEFAULT_CONFIG_FILES) {
    const path = resolve(cwd, name);
    if (existsSync(path)) return path;
  }
  throw new CliError(
    `no config file: rebuilding needs the projection's code (looked for ${DEFAULT_CONFIG_FILES.join(' and ')} in ${cwd})`,
    'pass --config <file> naming a module whose default export is the list of your projections',
  );
}

/**
 * A `.ts` config is loaded through tsx's ESM hooks, registered for the rest of this short-lived
 * process so the config's own imports of `.ts` files load too. tsx is only a dev dependency.
 */
async function registerTypeScript(path: string): Promise<void> {
  let api: typeof TsxEsmApi;
  try {
    api = await import('tsx/esm/api');
  } catch (error) {
    throw new CliError(
      `cannot load the TypeScript config ${path}: tsx is not installed`,
      'compile the config to .js or install tsx (npm install --save-dev tsx)',
      ExitCode.RuntimeError,
      { cause: error },
    );
  }
  api.register();
}

function projectionsOf(loaded: Record<string, unknown>, path: string): ProjectionDefinition[] {
  const list = Array.isArray(loaded['default'])
    ? (loaded['default'] as unknown[])
    : Array.isArray(loaded['projections'])
      ? (loaded['projections'] as unknown[])
      : undefined;
  if (list === undefined) {
    throw new CliError(
      `the config ${path} exports no list of projections`,
      'export default [myProjection] (or export const projections = [...]), built with defineProjection',
    );
  }
  list.forEach((entry, index) => {
    if (!isProjection(entry)) {
      throw new CliError(
        `the config ${path}: entry ${index} of the projections list is not a projection definition`,
        'build each entry with defineProjection({ name, version, tables, handlers })',
      );
    }
  });
  return list as ProjectionDefinition[];
}

function isProjection(value: unknown): value is ProjectionDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof ProjectionDefinition, unknown>>;
  return (
    typeof candidate.name === 'string' &&
    Number.isSafeInteger(candidate.version) &&
    Array.isArray(candidate.tables) &&
    typeof candidate.handlers === 'object' &&
    candidate.handlers !== null
  );
}
