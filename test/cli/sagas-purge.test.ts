import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase, SqliteSagaStore } from 'causeway/sqlite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { leftBehind } from '../sagas/fixtures.js';
import { jsonLines, runCli } from './run-cli.js';

// Each case starts a Node process (tsx compiles the sources): give it room.
const SLOW = 30_000;
const DAY = 86_400_000;

let dir: string;
let file: string;

/** Finished instances 30 and 2 days old, a stuck one and a running one, all 30 days old. */
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'causeway-cli-sagas-purge-'));
  file = join(dir, 'sagas.db');
  const db = openSqliteDatabase(file);
  const store = new SqliteSagaStore(db);
  const ago = (days: number) => new Date(Date.now() - days * DAY);
  const make = (
    id: string,
    status: 'completed' | 'failed' | 'compensation_failed' | 'running',
    days: number,
  ) =>
    leftBehind(store, ago(days), {
      id,
      name: 'checkout',
      currentStep: status === 'running' ? 'charge' : undefined,
      status,
      endedAt: status === 'completed' || status === 'failed' ? ago(days) : undefined,
    });
  await make('old-completed', 'completed', 30);
  await make('old-failed', 'failed', 30);
  await make('old-stuck', 'compensation_failed', 30);
  await make('old-running', 'running', 30);
  await make('recent-completed', 'completed', 2);
  db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli(['sagas', ...args, '--db', file]);
const ids = async () =>
  jsonLines((await cli('list', '--json')).stdout).map((row) => (row as { id: string }).id);

it(
  'sagas purge --older-than deletes finished instances that ended before then; --status widens it',
  { timeout: SLOW },
  async () => {
    const purged = await cli('purge', '--older-than', '7d');
    expect(purged.stderr).toBe('');
    expect(purged.code).toBe(0);
    expect(purged.stdout).toMatch(/^purged 2 saga instance\(s\) that ended before \d{4}-/);
    expect(await ids()).toEqual(['old-running', 'old-stuck', 'recent-completed']);

    const stuck = await cli(
      'purge',
      '--older-than',
      '7d',
      '--status',
      'compensation_failed',
      '--json',
    );
    expect(stuck.code).toBe(0);
    expect(jsonLines(stuck.stdout)).toMatchObject([{ purged: 1 }]);

    const refused = await cli('purge', '--older-than', '7d', '--status', 'running');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('still driven by a runtime');
    const missing = await cli('purge');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--older-than');
    expect(await ids()).toEqual(['old-running', 'recent-completed']);
  },
);
