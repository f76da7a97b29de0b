import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineSaga, PermanentError, SagaRuntime } from 'causeway';
import { openSqliteDatabase, SqliteSagaStore, type SqliteDatabase } from 'causeway/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftBehind } from '../sagas/fixtures.js';
import { jsonLines, outputLines, runCli } from './run-cli.js';

// Every test starts a Node process (with tsx compiling the sources): give them room.
const SLOW = 30_000;

interface Order {
  decline?: boolean;
}

let dir: string;
let file: string;
let db: SqliteDatabase;
let store: SqliteSagaStore;
/** Whether releasing a reservation works; off at first, so one compensation fails. */
let warehouseOnline = false;

const checkout = defineSaga<Order>({
  name: 'checkout',
  steps: [
    {
      name: 'reserve',
      execute: () => undefined,
      compensate: () => {
        if (!warehouseOnline) throw new PermanentError('warehouse offline');
      },
    },
    {
      name: 'charge',
      execute: (ctx) => {
        if (ctx.data.decline) throw new PermanentError('card declined');
      },
    },
  ],
});

const runtime = () =>
  new SagaRuntime({ store, sagas: [checkout], leaseTtlMs: 30_000, pollIntervalMs: 20 });

/**
 * Instances made the real way, by a runtime: completed, compensated (`failed`), and
 * `compensation_failed`; plus two a crashed runtime left running: one still leased, one free.
 */
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'causeway-cli-sagas-'));
  file = join(dir, 'sagas.db');
  db = openSqliteDatabase(file);
  store = new SqliteSagaStore(db);
  const first = runtime();
  await first.run(checkout, {}, { id: 'checkout-1' });
  warehouseOnline = true;
  await first.run(checkout, { decline: true }, { id: 'checkout-2' });
  warehouseOnline = false;
  await first.run(checkout, { decline: true }, { id: 'checkout-3' });
  await first.stop();
  const at = new Date();
  await leftBehind(
    store,
    at,
    { id: 'checkout-4', name: 'checkout', currentStep: 'charge' },
    'runtime-x',
    600_000,
  );
  await leftBehind(store, at, { id: 'refund-1', name: 'refund', currentStep: 'pay' }, 'runtime-y');
  await store.releaseLease('refund-1', 'runtime-y');
});

afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => runCli(['sagas', ...args, '--db', file]);

describe('causeway sagas (SQLite file)', () => {
  it(
    'list prints a table ordered by id; --status, --name, --limit filter',
    { timeout: SLOW },
    async () => {
      const { code, stdout, stderr } = await cli('list');
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const [header, ...rows] = outputLines(stdout);
      expect(header).toMatch(/^ID\s+NAME\s+STATUS\s+STEP\s+ATTEMPT\s+UPDATED\s+LEASE\s+ERROR/);
      expect(rows.map((row) => row.split(/\s+/).slice(0, 3))).toEqual([
        ['checkout-1', 'checkout', 'completed'],
        ['checkout-2', 'checkout', 'failed'],
        ['checkout-3', 'checkout', 'compensation_failed'],
        ['checkout-4', 'checkout', 'running'],
        ['refund-1', 'refund', 'running'],
      ]);
      expect(rows[2]).toContain('PermanentError [PERMANENT_FAILURE]: warehouse offline');
      expect(rows[3]).toContain('runtime-x until');

      const failing = await cli('list', '--status', 'failed,compensation_failed', '--json');
      expect(jsonLines(failing.stdout).map((i) => [i['id'], i['status']])).toEqual([
        ['checkout-2', 'failed'],
        ['checkout-3', 'compensation_failed'],
      ]);
      const refunds = await cli('list', '--name', 'refund', '--json');
      expect(jsonLines(refunds.stdout).map((i) => i['id'])).toEqual(['refund-1']);
      const limited = await cli('list', '--limit', '2', '--json');
      expect(jsonLines(limited.stdout).map((i) => i['id'])).toEqual(['checkout-1', 'checkout-2']);
      const none = await cli('list', '--name', 'nothing');
      expect(none).toMatchObject({ code: 0, stdout: '', stderr: '(no saga instances)\n' });
    },
  );

  it(
    'a bad flag is a usage error (exit 2) naming what is accepted',
    { timeout: SLOW },
    async () => {
      const bad = await cli('list', '--status', 'done');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('"done" is not a status; expected running, compensating');
      expect(bad.stdout).toBe('');
    },
  );

  it(
    'show prints status, error, data and every attempt with its outcome and timing',
    { timeout: SLOW },
    async () => {
      const { code, stdout } = await cli('show', 'checkout-3');
      expect(code).toBe(0);
      const lines = outputLines(stdout);
      expect(lines).toContain('status:           compensation_failed');
      expect(lines).toContain(
        'error:            reserve (compensate) PermanentError [PERMANENT_FAILURE]: warehouse offline',
      );
      expect(lines).toContain('completed steps:  reserve');
      expect(lines).toContain('uncertain steps:  -'); // the charge was declined: a definite failure
      const table = lines.slice(lines.findIndex((l) => /^\s*#\s+STEP/.test(l)));
      expect(table[0]).toMatch(/#\s+STEP\s+KIND\s+ATTEMPT\s+OUTCOME\s+STARTED\s+DURATION\s+ERROR/);
      expect(table.slice(1).map((row) => row.trim().split(/\s+/).slice(0, 5))).toEqual([
        ['1', 'reserve', 'execute', '1', 'succeeded'],
        ['2', 'charge', 'execute', '1', 'failed'],
        ['3', 'reserve', 'compensate', '1', 'failed'],
      ]);
      expect(table[2]).toMatch(/\d+ ms\s+PermanentError \[PERMANENT_FAILURE\]: card declined/);

      const json = jsonLines((await cli('show', 'checkout-3', '--json')).stdout)[0]!;
      expect(json).toMatchObject({
        id: 'checkout-3',
        status: 'compensation_failed',
        error: { step: 'reserve', kind: 'compensate', code: 'PERMANENT_FAILURE' },
        data: { decline: true },
        history: [
          { step: 'reserve', outcome: 'succeeded', error: null },
          { step: 'charge', idempotencyKey: 'checkout-3:charge:execute', outcome: 'failed' },
          { step: 'reserve', kind: 'compensate', error: { message: 'warehouse offline' } },
        ],
      });
      expect((json['history'] as { durationMs: unknown }[])[0]!.durationMs).toEqual(
        expect.any(Number),
      );
    },
  );

  it(
    'an unknown id, a missing file or a file without sagas fail with exit 1 and what to do',
    { timeout: SLOW },
    async () => {
      const unknown = await cli('show', 'nope');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe(
        'error: No saga instance with id "nope".\nhint: `causeway sagas list` shows the saga instances there are\n',
      );
      const missing = await runCli(['sagas', 'list', '--db', join(dir, 'missing.db')]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/error: database file .*missing\.db does not exist/);
      const other = join(dir, 'other.db');
      const { default: Database } = await import('better-sqlite3');
      new Database(other).exec('CREATE TABLE t (x)');
      const empty = await runCli(['sagas', 'list', '--db', other]);
      expect(empty.code).toBe(1);
      expect(empty.stderr).toContain('causeway_sagas table is missing');
      expect(empty.stderr).toContain('hint: check --db');
    },
  );

  it(
    'resume and abort refuse settled instances and instances another runtime holds',
    { timeout: SLOW },
    async () => {
      const done = await cli('resume', 'checkout-1');
      expect(done.code).toBe(1);
      expect(done.stderr).toContain('is completed: every step is done or compensated');
      expect(done.stderr).toContain('hint: `causeway sagas show <id>`');
      const compensated = await cli('abort', 'checkout-2');
      expect(compensated.code).toBe(1);
      expect(compensated.stderr).toContain('only an unfinished saga can be aborted');
      const held = await cli('resume', 'checkout-4');
      expect(held.code).toBe(1);
      expect(held.stderr).toContain('error: saga checkout-4 is held by runtime-x (lease until');
      expect(await store.get('checkout-4')).toMatchObject({ leaseOwner: 'runtime-x', version: 1 });
    },
  );

  it(
    'abort records the request for the runtime driving the instance',
    { timeout: SLOW },
    async () => {
      const { code, stdout } = await cli('abort', 'checkout-4', '--json');
      expect(code).toBe(0);
      expect(jsonLines(stdout)).toEqual([
        expect.objectContaining({
          id: 'checkout-4',
          action: 'abort_requested',
          status: 'running',
          leaseOwner: 'runtime-x',
          abortRequestedAt: expect.any(String),
        }),
      ]);
      const stored = (await store.get('checkout-4'))!;
      expect(stored.abortRequestedAt?.toISOString()).toBe(
        jsonLines(stdout)[0]!['abortRequestedAt'],
      );
      // The holder learns of it at its next renewal.
      expect(await store.renewLease('checkout-4', 'runtime-x', 600_000)).toEqual({
        abortRequested: true,
      });
    },
  );

  it(
    'resume frees an abandoned instance, and re-opens a failed compensation that a runtime then finishes',
    { timeout: SLOW },
    async () => {
      const free = await cli('resume', 'refund-1');
      expect(free.code).toBe(0);
      expect(free.stdout).toContain('refund-1 is running at step "pay" and no runtime holds it');

      const { code, stdout } = await cli('resume', 'checkout-3');
      expect(code).toBe(0);
      expect(stdout).toContain('resumed checkout-3: compensating again');
      expect(await store.get('checkout-3')).toMatchObject({
        status: 'compensating',
        attempt: 0,
        leaseOwner: undefined,
      });
      warehouseOnline = true;
      const next = runtime();
      await next.start();
      const settled = await next.wait('checkout-3');
      await next.stop();
      expect(settled).toMatchObject({ status: 'failed', compensatedSteps: ['reserve'] });
      expect(settled.history.map((a) => `${a.step} ${a.kind} #${a.attempt} ${a.outcome}`)).toEqual([
        'reserve execute #1 succeeded',
        'charge execute #1 failed',
        'reserve compensate #1 failed',
        'reserve compensate #1 succeeded',
      ]);
    },
  );
});
