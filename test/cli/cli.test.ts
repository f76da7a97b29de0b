import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { EventStore, NewEvent } from 'causeway';
import { createSqliteEventStore } from 'causeway/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LineReader, ROOT, runCli, startCli } from './run-cli.js';

// Every test starts a Node process (with tsx compiling the sources): give them room.
const SLOW = 30_000;
const TIME = new Date('2025-01-02T03:04:05.678Z');

let dir: string;
let db: string;

function at(event: Omit<NewEvent, 'time'>): NewEvent {
  return { ...event, time: TIME };
}

async function seed(store: EventStore): Promise<void> {
  await store.appendToStream('account-1', [
    at({ type: 'AccountOpened', data: { owner: 'Ada', currency: 'EUR' } }),
    at({ type: 'MoneyDeposited', data: { amount: 100 } }),
    at({ type: 'MoneyWithdrawn', data: { amount: 30 } }),
  ]);
  await store.appendToStream('account-2', [
    at({ type: 'AccountOpened', data: { owner: 'Grace', currency: 'USD' } }),
  ]);
  await store.appendToStream('order-1', [
    at({ type: 'OrderPlaced', data: { items: ['book'], note: 'x'.repeat(200) } }),
  ]);
  await store.appendToStream('order-2', [at({ type: 'OrderPlaced', data: { items: [] } })]);
  await store.deleteStream('order-2');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'causeway-cli-'));
  db = join(dir, 'store.db');
  const store = createSqliteEventStore({ filename: db });
  await seed(store);
  await store.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const lines = (text: string) => text.split('\n').filter((line) => line !== '');
const json = (text: string) =>
  lines(text).map((line) => JSON.parse(line) as Record<string, unknown>);

describe('causeway streams list', () => {
  it('prints an aligned table of active streams', { timeout: SLOW }, async () => {
    const { code, stdout, stderr } = await runCli(['streams', 'list', '--db', db]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // Stream timestamps are the store's clock: mask them, keep the alignment exact.
    const masked = lines(stdout).map((line) =>
      line.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, '<updated-at>'),
    );
    expect(masked).toEqual([
      'STREAM     VERSION  STATE   UPDATED',
      'account-1        3  active  <updated-at>',
      'account-2        1  active  <updated-at>',
      'order-1          1  active  <updated-at>',
    ]);
  });

  it(
    'prints one JSON object per line with stable keys, honouring --prefix and --include-deleted',
    { timeout: SLOW },
    async () => {
      const { code, stdout } = await runCli([
        '--json',
        'streams',
        'list',
        '--prefix',
        'order-',
        '--include-deleted',
        '--db',
        db,
      ]);
      expect(code).toBe(0);
      const rows = json(stdout);
      expect(rows.map((row) => [row['streamId'], row['state']])).toEqual([
        ['order-1', 'active'],
        ['order-2', 'soft_deleted'],
      ]);
      for (const row of rows) {
        expect(Object.keys(row)).toEqual([
          'streamId',
          'version',
          'state',
          'metadata',
          'createdAt',
          'updatedAt',
        ]);
      }
    },
  );

  it('stops after --limit streams', { timeout: SLOW }, async () => {
    const { code, stdout } = await runCli([
      'streams',
      'list',
      '--limit',
      '1',
      '--json',
      '--db',
      db,
    ]);
    expect(code).toBe(0);
    expect(json(stdout).map((row) => row['streamId'])).toEqual(['account-1']);
  });
});

describe('causeway streams read', () => {
  it(
    'prints position, stream@version, type, time and a data preview',
    { timeout: SLOW },
    async () => {
      const { code, stdout } = await runCli(['streams', 'read', 'account-1', '--db', db]);
      expect(code).toBe(0);
      expect(lines(stdout)).toEqual([
        'POSITION  STREAM@VERSION  TYPE            TIME                  DATA',
        '       1  account-1@1     AccountOpened   2025-01-02T03:04:05Z  {"owner":"Ada","currency":"EUR"}',
        '       2  account-1@2     MoneyDeposited  2025-01-02T03:04:05Z  {"amount":100}',
        '       3  account-1@3     MoneyWithdrawn  2025-01-02T03:04:05Z  {"amount":30}',
      ]);
    },
  );

  it('reads backwards from a version, as JSON', { timeout: SLOW }, async () => {
    const { code, stdout } = await runCli([
      'streams',
      'read',
      'account-1',
      '--backwards',
      '--from',
      '2',
      '--json',
      '--db',
      db,
    ]);
    expect(code).toBe(0);
    const rows = json(stdout);
    expect(rows.map((row) => row['streamVersion'])).toEqual([2, 1]);
    expect(rows[0]).toMatchObject({
      globalPosition: 2,
      streamId: 'account-1',
      type: 'MoneyDeposited',
      time: TIME.toISOString(),
      schemaVersion: 1,
      subject: 'account-1',
      correlationid: null,
      data: { amount: 100 },
      metadata: {},
    });
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'globalPosition',
      'streamId',
      'streamVersion',
      'id',
      'type',
      'time',
      'schemaVersion',
      'source',
      'subject',
      'datacontenttype',
      'correlationid',
      'causationid',
      'traceparent',
      'partitionkey',
      'data',
      'metadata',
    ]);
  });

  it('cuts long payloads to one short line', { timeout: SLOW }, async () => {
    const { stdout } = await runCli(['streams', 'read', 'order-1', '--db', db]);
    const row = lines(stdout)[1] ?? '';
    expect(row).toMatch(/\{"items":\["book"\],"note":"x+…$/);
    expect(row.length).toBeLessThan(140);
  });

  it(
    'fails with exit code 1 and a hint when the stream does not exist',
    { timeout: SLOW },
    async () => {
      const { code, stdout, stderr } = await runCli(['streams', 'read', 'account-9', '--db', db]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toContain('error: Stream "account-9" does not exist.');
      expect(stderr).toContain('hint: `causeway streams list`');
    },
  );
});

describe('causeway events tail --no-follow', () => {
  it('prints the last events of the log and exits', { timeout: SLOW }, async () => {
    const { code, stdout } = await runCli([
      'events',
      'tail',
      '--no-follow',
      '--last',
      '2',
      '--db',
      db,
    ]);
    expect(code).toBe(0);
    const rows = lines(stdout);
    expect(rows[0]?.split(/ +/)).toEqual(['POSITION', 'STREAM@VERSION', 'TYPE', 'TIME', 'DATA']);
    // Soft-deleting order-2 hid the stream, but its events stay in the global log.
    expect(rows.slice(1).map((row) => row.trim().split(/\s+/).slice(0, 4))).toEqual([
      ['5', 'order-1@1', 'OrderPlaced', '2025-01-02T03:04:05Z'],
      ['6', 'order-2@1', 'OrderPlaced', '2025-01-02T03:04:05Z'],
    ]);
  });

  it('filters by --type and --stream-prefix, from a position', { timeout: SLOW }, async () => {
    const byType = await runCli([
      'events',
      'tail',
      '--no-follow',
      '--json',
      '--type',
      'AccountOpened',
      'MoneyWithdrawn',
      '--db',
      db,
    ]);
    expect(byType.code).toBe(0);
    expect(json(byType.stdout).map((e) => [e['globalPosition'], e['type']])).toEqual([
      [1, 'AccountOpened'],
      [3, 'MoneyWithdrawn'],
      [4, 'AccountOpened'],
    ]);

    const byPrefix = await runCli([
      'events',
      'tail',
      '--no-follow',
      '--json',
      '--stream-prefix',
      'account-1',
      '--from',
      '2',
      '--db',
      db,
    ]);
    expect(json(byPrefix.stdout).map((e) => e['globalPosition'])).toEqual([2, 3]);
  });
});

describe('output into a pipe', () => {
  it(
    'stops quietly with exit code 0 when the reader closes the pipe early',
    { timeout: SLOW },
    async () => {
      // More output than a pipe buffers, so the CLI is still writing when the reader goes away.
      const big = join(dir, 'big.db');
      const store = createSqliteEventStore({ filename: big });
      for (let i = 0; i < 20; i++) {
        const events = Array.from({ length: 100 }, () => ({
          type: 'Tick',
          data: { pad: 'x'.repeat(100) },
        }));
        await store.appendToStream(`tick-${i}`, events);
      }
      await store.close();
      const child = startCli(['events', 'tail', '--from', '1', '--no-follow', '--db', big]);
      const exited = once(child, 'close');
      const err = new LineReader(child.stderr, 'stderr');
      await once(child.stdout, 'data');
      child.stdout.destroy(); // what `| head -1` does
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      expect(err.lines.join('\n')).toBe('');
    },
  );
});

describe('usage errors exit with code 2 and print the usage', () => {
  it.each([
    [
      'an unknown flag',
      ['streams', 'list', '--bogus'],
      "error: unknown option '--bogus'",
      'Usage: causeway streams list',
    ],
    [
      'an unknown command',
      ['streams', 'lst'],
      "error: unknown command 'lst'",
      'Usage: causeway streams',
    ],
    [
      'an invalid number',
      ['streams', 'list', '--limit', 'ten'],
      "'--limit <n>' argument 'ten' is invalid",
      'Usage: causeway streams list',
    ],
    [
      'a negative position',
      ['events', 'tail', '--from', '-1'],
      "'--from <position>' argument '-1' is invalid",
      'Usage: causeway events tail',
    ],
    [
      'a missing argument',
      ['streams', 'read'],
      "error: missing required argument 'id'",
      'Usage: causeway streams read',
    ],
  ])('%s', { timeout: SLOW }, async (_name, args, message, usage) => {
    const { code, stdout, stderr } = await runCli([...args, '--db', db]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain(usage);
  });

  it('--help succeeds and documents the exit codes', { timeout: SLOW }, async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: causeway');
    expect(stdout).toContain('Exit codes: 0 ok, 1 runtime error');
    const help = await runCli(['help', 'streams']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: causeway streams');
  });
});

describe('store errors exit with code 1 and say what was tried', () => {
  it('a missing SQLite file is reported, and not created', { timeout: SLOW }, async () => {
    const missing = join(dir, 'nope.db');
    const { code, stderr } = await runCli(['streams', 'list', '--db', missing]);
    expect(code).toBe(1);
    expect(stderr).toContain(`error: database file ${missing} does not exist`);
    expect(stderr).toContain('npm run quickstart');
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(missing)).toBe(false);
  });

  it('leaves a SQLite file of another application untouched', { timeout: SLOW }, async () => {
    const foreign = join(dir, 'other-app.db');
    const other = new Database(foreign);
    other.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    other.close();
    const { code, stderr } = await runCli(['streams', 'list', '--db', foreign]);
    expect(code).toBe(1);
    expect(stderr).toContain(`no Causeway event store in ${foreign}`);
    const check = new Database(foreign, { readonly: true });
    const tables = check
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .pluck()
      .all();
    const mode = check.pragma('journal_mode', { simple: true });
    check.close();
    expect(tables).toEqual(['notes']);
    expect(mode).toBe('delete');
  });

  it('an unreachable PostgreSQL names the address it tried', { timeout: SLOW }, async () => {
    const { code, stderr } = await runCli([
      'streams',
      'list',
      '--db',
      'postgres://nobody@127.0.0.1:1/x',
    ]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: .*127\.0\.0\.1:1/m);
    expect(stderr).toContain('hint: ');
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('CAUSEWAY_DEBUG=1 adds the stack trace', { timeout: SLOW }, async () => {
    const { code, stderr } = await runCli(['streams', 'read', 'account-9', '--db', db], {
      env: { CAUSEWAY_DEBUG: '1' },
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^\s+at /m);
  });
});

describe('causeway events tail (following)', () => {
  it(
    'prints an event appended while it follows, and stops cleanly on Ctrl-C',
    { timeout: SLOW },
    async () => {
      // Its own file: this test writes, and the others expect the seeded data unchanged.
      const live = join(dir, 'live.db');
      const seeded = createSqliteEventStore({ filename: live });
      await seed(seeded);
      await seeded.close();
      const child = startCli(['events', 'tail', '--json', '--db', live]);
      const exited = once(child, 'close');
      const out = new LineReader(child.stdout, 'stdout');
      const err = new LineReader(child.stderr, 'stderr');
      try {
        await err.waitFor((line) => line.includes('following new events'));
        const store = createSqliteEventStore({ filename: live });
        try {
          await store.appendToStream(
            'account-2',
            [{ type: 'MoneyDeposited', data: { amount: 42 } }],
            { expectedVersion: 1 },
          );
        } finally {
          await store.close();
        }
        const line = await out.waitFor((l) => l.includes('"amount":42'));
        expect(JSON.parse(line)).toMatchObject({
          streamId: 'account-2',
          streamVersion: 2,
          type: 'MoneyDeposited',
        });
        // What was already there came first: the last events before the append, in order.
        expect(
          out.lines.slice(0, -1).map((l) => (JSON.parse(l) as { type: string }).type),
        ).toContain('OrderPlaced');
      } finally {
        child.kill('SIGINT');
      }
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    },
  );
});

describe('bin/causeway', () => {
  it('asks for a build instead of crashing when dist/ is missing', { timeout: SLOW }, async () => {
    // A copy of the bin in a tree without dist/, as in a clone where `npm install` did not run.
    const tree = join(dir, 'clone');
    mkdirSync(join(tree, 'bin'), { recursive: true });
    cpSync(join(ROOT, 'bin/causeway'), join(tree, 'bin/causeway'));
    cpSync(join(ROOT, 'package.json'), join(tree, 'package.json'));
    const { code, stderr } = await runCli(['--help'], { command: [join(tree, 'bin/causeway')] });
    expect(code).toBe(1);
    expect(stderr).toContain('run npm install (or npm run build) first');
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  // `npm ci` runs `prepare` (the build) before the tests in CI, so there dist/ must exist.
  const built = existsSync(join(ROOT, 'dist/cli/main.js'));
  it.skipIf(!built && process.env['CI'] === undefined)(
    'runs the built CLI',
    { timeout: SLOW },
    async () => {
      const { code, stdout } = await runCli(['streams', 'list', '--json', '--db', db], {
        command: ['bin/causeway'],
      });
      expect(code).toBe(0);
      expect(json(stdout).map((row) => row['streamId'])).toEqual([
        'account-1',
        'account-2',
        'order-1',
      ]);
    },
  );
});
