import { existsSync } from 'node:fs';
import type { Peer } from './emmett.js';

/**
 * Loads a Causeway adapter entry (`causeway/sqlite`, `causeway/postgres`) by its public
 * name, the way users import it, and reports why when it cannot: an adapter that has not
 * landed yet leaves its column empty instead of failing the whole run.
 */
export async function loadAdapter<T>(
  entry: string,
  sourceFile: string,
  exports: readonly string[],
): Promise<Peer<T>> {
  if (!existsSync(new URL(`../${sourceFile}`, import.meta.url))) {
    return { ok: false, reason: `${entry} is not implemented yet (${sourceFile} is missing)` };
  }
  try {
    // A string variable, not a literal: the bench must type-check and run before the
    // adapter exists. The shape is checked below and typed by the caller.
    const specifier: string = entry;
    const loaded: unknown = await import(specifier);
    const missing = exports.filter(
      (key) =>
        typeof loaded !== 'object' ||
        loaded === null ||
        typeof (loaded as Record<string, unknown>)[key] !== 'function',
    );
    if (missing.length > 0)
      return { ok: false, reason: `${entry} does not export ${missing.join(', ')}` };
    return { ok: true, module: loaded as T, version: 'workspace' };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { ok: false, reason: `${entry} failed to load: ${message}` };
  }
}
