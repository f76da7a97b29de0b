import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSqliteEventStore, createSqliteProjectionStore } from 'causeway/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  counterProjection,
  counters,
  counterTable,
  expectedCounts,
  runToHead,
  seedTicks,
} from './fixtures/counter-projection.js';
import { ROOT, runCli } from './run-cli.js';

// Every test starts a Node process (with tsx compiling the sources): give them room.
const SLOW = 30_000;
const FIXTURE = pathToFileURL(join(ROOT, 'test/cli/fixtures/counter-projection.ts')).href;

let dir: string;
let db: string;

const lines = (text: string) => text.split('\n').filter((line) => line !== '');
const json = (text: string) =>
  lines(text).map((line) => JSON.parse(line) as Record<string, unknown>);

/** A config module in the temp dir, importing the test's projection by absolute URL. */
function writeConfig(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `import { counterProjection } from '${FIXTURE}';\n${body}\n`);
  return file;
}

async function status(name: string): Promise<Record<string, unknown>[]> {
  const { code, stdout, stderr } = await runCli([
    'projections',
    'status',
    name,
    '--json',
    '--db',
    db,
  ]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return json(stdout);
}

/**
 * The database is prepared the way an application leaves it: 1,000 events, the counter
 * projection run to the head by a real runner on the real SQLite projection store, 100 more
 * events it has not seen yet (lag), and a second projection whose runner recorded an error.
 */
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'causeway-cli-projections-'));
  db = join(dir, 'store.db');
  const store = createSqliteEventStore({ filename: db });
  const projections = createSqliteProjectionStore({ filename: db });
  try {
    await seedTicks(store, 1000);
    await runToHead(store, projections, counterProjection(1));
    await seedTicks(store, 100, 1000);
    const audit = counterProjection(1, 'audit');
    await projections.prepare(audit);
    await projections.setError('audit', 1, 'Projection "audit" v1 failed at position 7: boom');
  } finally {
    await projections.close();
    await store.close();
  }
}, SLOW);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('causeway projections list and status', () => {
  it(
    'lists every projection version with checkpoint, head, lag and error',
    { timeout: SLOW },
    async () => {
      const { code, stdout, stderr } = await runCli(['projections', 'list', '--db', db]);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(lines(stdout).map((line) => line.split(/ {2,}/))).toEqual([
        ['NAME', 'VERSION', 'STATUS', 'PAUSED', 'POSITION', 'HEAD', 'LAG', 'LEASE', 'ERROR'],
        [
          'audit',
          '1',
          'active',
          'no',
          '0',
          '1100',
          '1100',
          '-',
          'Projection "audit" v1 failed at position 7: boom',
        ],
        ['counter', '1', 'active', 'no', '1000', '1100', '100', '-', '-'],
      ]);
    },
  );

  it('prints one JSON object per version with stable keys', { timeout: SLOW }, async () => {
    const { code, stdout } = await runCli(['--json', 'projections', 'list', '--db', db]);
    expect(code).toBe(0);
    const rows = json(stdout);
    expect(rows.map((row) => Object.keys(row))).toEqual([
      [
        'name',
        'version',
        'status',
        'paused',
        'position',
        'head',
        'lag',
        'leaseOwner',
        'leaseExpiresAt',
        'leaseHeld',
        'error',
        'updatedAt',
      ],
      expect.any(Array),
    ]);
    expect(rows[1]).toMatchObject({
      name: 'counter',
      version: 1,
      status: 'active',
      paused: false,
      position: 1000,
      head: 1100,
      lag: 100,
      leaseOwner: null,
      leaseHeld: false,
      error: null,
    });
  });

  it('shows the details of one projection', { timeout: SLOW }, async () => {
    const { code, stdout } = await runCli(['projections', 'status', 'counter', '--db', db]);
    expect(code).toBe(0);
    expect(lines(stdout).slice(0, 6)).toEqual([
      'counter v1',
      '  status    active',
      '  paused    no',
      '  position  1000 of head 1100 (lag 100)',
      '  lease     free',
      '  error     none',
    ]);
  });

  it('names the projections there are when the name is unknown', { timeout: SLOW }, async () => {
    const { code, stdout, stderr } = await runCli(['projections', 'status', 'countr', '--db', db]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(lines(stderr)).toEqual([
      'error: unknown projection "countr"',
      'hint: projections in this database: audit, counter',
    ]);
  });
});

describe('causeway projections pause and resume', () => {
  it('are reflected in status --json', { timeout: SLOW }, async () => {
    const paused = await runCli(['projections', 'pause', 'counter', '--db', db]);
    expect(paused.code).toBe(0);
    expect(paused.stderr).toBe('paused counter v1\n');
    expect(await status('counter')).toMatchObject([{ name: 'counter', paused: true }]);

    const resumed = await runCli(['projections', 'resume', 'counter', '--json', '--db', db]);
    expect(resumed.code).toBe(0);
    expect(json(resumed.stdout)).toMatchObject([{ name: 'counter', version: 1, paused: false }]);
    expect(await status('counter')).toMatchObject([{ name: 'counter', paused: false }]);
  });

  it('refuse an unknown projection or version', { timeout: SLOW }, async () => {
    const unknown = await runCli(['projections', 'pause', 'nope', '--db', db]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('hint: projections in this database: audit, counter');
    const version = await runCli([
      'projections',
      'pause',
      'counter',
      '--projection-version',
      '9',
      '--db',
      db,
    ]);
    expect(version.code).toBe(1);
    expect(version.stderr).toContain('projection "counter" has no version 9');
  });
});

describe('causeway projections rebuild', () => {
  it(
    'replays the log in place from a .ts config, printing a progress line per tenth',
    { timeout: SLOW },
    async () => {
      const config = writeConfig('v1.config.ts', 'export default [counterProjection(1)];');
      const { code, stdout, stderr } = await runCli([
        'projections',
        'rebuild',
        'counter',
        '--config',
        config,
        '--batch-size',
        '88',
        '--db',
        db,
      ]);
      expect(code).toBe(0);
      expect(stdout).toMatch(
        /^rebuilt counter v1 in place: 1,100 events in [\d.]+s \([\d,]+ events\/s\)\n$/,
      );
      const progress = lines(stderr).slice(1);
      expect(lines(stderr)[0]).toBe(
        'rebuilding counter v1 in place: queries see its tables fill up again',
      );
      // 880 `Ticked` events in batches of 88: one line per batch, each a tenth further on.
      const percents = progress.map((line) => {
        const match =
          /^counter v1: +(\d+)% \(([\d,]+)\/1,100, [\d,]+ events\/s, ETA [\d.?a-z]+\)$/.exec(line);
        expect(match, line).not.toBeNull();
        return Number(match?.[1]);
      });
      expect(percents).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);

      const store = createSqliteEventStore({ filename: db });
      const projections = createSqliteProjectionStore({ filename: db });
      try {
        const rows = await projections.reader().table(counters).find();
        expect(Object.fromEntries(rows.map((r) => [r.id, r.count]))).toEqual(
          await expectedCounts(store),
        );
        expect(await projections.get('counter', 1)).toMatchObject({
          position: 1100,
          paused: false,
        });
      } finally {
        await projections.close();
        await store.close();
      }
    },
  );

  it(
    'builds a new version beside the active one with --blue-green, then switches',
    { timeout: SLOW },
    async () => {
      const config = writeConfig(
        'v2.config.ts',
        'export const projections = [counterProjection(1), counterProjection(2)];',
      );
      const inPlace = await runCli([
        'projections',
        'rebuild',
        'counter',
        '--config',
        config,
        '--db',
        db,
      ]);
      expect(inPlace.code).toBe(1);
      expect(inPlace.stderr).toContain(`error: counter v1 is active, but ${config} has v2`);
      expect(inPlace.stderr).toContain('hint: add --blue-green');

      const { code, stdout, stderr } = await runCli([
        'projections',
        'rebuild',
        'counter',
        '--blue-green',
        '--json',
        '--config',
        config,
        '--db',
        db,
      ]);
      expect(stderr).toContain('building counter v2 beside v1');
      expect(stderr).toMatch(/^counter v2: 100% \(1,100\/1,100, /m);
      expect(code).toBe(0);
      expect(json(stdout)).toMatchObject([
        {
          name: 'counter',
          version: 2,
          mode: 'blue-green',
          position: 1100,
          status: 'active',
          previousVersion: 1,
        },
      ]);
      expect(
        (await status('counter')).map((row) => [row['version'], row['status'], row['lag']]),
      ).toEqual([
        [1, 'retired', null],
        [2, 'active', 0],
      ]);

      const again = await runCli([
        'projections',
        'rebuild',
        'counter',
        '--blue-green',
        '--config',
        config,
        '--db',
        db,
      ]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('error: counter v2 is already active');
    },
  );

  it('finds ./causeway.config.js by default, a plain JS module', { timeout: SLOW }, async () => {
    const cwd = mkdtempSync(join(dir, 'js-config-'));
    const table = counterTable('cli_plain');
    writeFileSync(
      join(cwd, 'causeway.config.js'),
      `const table = ${JSON.stringify({ ...table })};
export default [{
  name: 'plain', version: 1, tables: [table],
  handlers: { Ticked: async (event, session) => {
    const t = session.table(table);
    const row = await t.findById(event.streamId);
    await t.upsert({ id: event.streamId, count: (row?.count ?? 0) + 1, last_position: event.globalPosition });
  } },
}];
`,
    );
    const { code, stdout, stderr } = await runCli(
      ['projections', 'rebuild', 'plain', '--json', '--db', db],
      { cwd },
    );
    expect(stderr).toContain('rebuilding plain v1 in place');
    expect(code).toBe(0);
    expect(json(stdout)).toMatchObject([
      { name: 'plain', version: 1, mode: 'in-place', position: 1100 },
    ]);
  });

  it(
    "lists the config's projections when the name is not among them",
    { timeout: SLOW },
    async () => {
      const config = writeConfig(
        'two.config.ts',
        "export default [counterProjection(1), counterProjection(1, 'audit')];",
      );
      const { code, stderr } = await runCli([
        'projections',
        'rebuild',
        'countr',
        '--config',
        config,
        '--db',
        db,
      ]);
      expect(code).toBe(1);
      expect(lines(stderr)).toEqual([
        'error: unknown projection "countr"',
        `hint: projections in ${config}: counter, audit`,
      ]);
    },
  );

  it('says how to provide the code when there is no config', { timeout: SLOW }, async () => {
    const cwd = mkdtempSync(join(dir, 'empty-'));
    const missing = await runCli(['projections', 'rebuild', 'counter', '--db', db], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      "error: no config file: rebuilding needs the projection's code",
    );
    expect(missing.stderr).toContain('hint: pass --config <file>');

    const empty = writeConfig('empty.config.ts', 'export const nothing = counterProjection;');
    const wrong = await runCli([
      'projections',
      'rebuild',
      'counter',
      '--config',
      empty,
      '--db',
      db,
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`error: the config ${empty} exports no list of projections`);
  });
});

describe('usage errors exit with code 2 and print the usage', () => {
  it.each([
    ['rebuild without a name', ['projections', 'rebuild'], "missing required argument 'name'"],
    [
      'a bad --batch-size',
      ['projections', 'rebuild', 'counter', '--batch-size', '0'],
      '--batch-size',
    ],
    [
      'a bad --projection-version',
      ['projections', 'pause', 'counter', '--projection-version', 'x'],
      '--projection-version',
    ],
    ['an unknown subcommand', ['projections', 'frobnicate'], "unknown command 'frobnicate'"],
    [
      '--schema with a SQLite file',
      ['projections', 'list', '--schema', 'x'],
      '--schema only applies to PostgreSQL',
    ],
  ])('%s', { timeout: SLOW }, async (_name, args, message) => {
    const { code, stderr } = await runCli([...args, '--db', db]);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });
});
