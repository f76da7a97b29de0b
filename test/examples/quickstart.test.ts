import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ROOT, runCli } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'causeway-quickstart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The `quickstart` script's own command line, so this test runs exactly what `npm run quickstart` runs. */
function startCommand(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: { quickstart: string };
  };
  const [node, ...args] = pkg.scripts.quickstart.split(/\s+/);
  expect(node).toBe('node');
  return args;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

it('npm run quickstart tells the whole story and exits 0', { timeout: 30_000 }, async () => {
  const db = join(dir, 'quickstart.db');
  const { code, stdout, stderr } = await run([...startCommand(), db]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(stdout).toContain(`bank accounts in ${db}`);
  expect(stdout).toContain('1. Opened account-ada (100 EUR) and account-bob (20 EUR)');
  expect(stdout).toContain(
    'App conflicted: Stream "account-ada" is at version 3, but the append expected version 2.',
  );
  expect(stdout).toContain('App reloaded (balance 70), retried and withdrew 50');
  expect(stdout).toContain('events[0].data.owner: ');
  expect(stdout).toContain('events[0].data.currency: ');
  expect(stdout).toContain('v4 MoneyWithdrawn {"amount":50}');
  expect(stdout).toContain(
    '4. Read model built by a subscription: {"account-ada":20,"account-bob":20}',
  );
  expect(stdout).toContain(`./bin/causeway streams list --db ${db}`);

  // The file it leaves behind is what the CLI hint points at.
  const listed = await runCli(['streams', 'list', '--json', '--db', db]);
  expect(listed.code).toBe(0);
  const streams = listed.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { streamId: string; version: number });
  expect(streams.map((s) => [s.streamId, s.version])).toEqual([
    ['account-ada', 4],
    ['account-bob', 2],
  ]);

  // A second run starts from a fresh file instead of piling onto the first one.
  const again = await run([...startCommand(), db]);
  expect(again.code).toBe(0);
  expect(again.stdout).toBe(stdout);
});
