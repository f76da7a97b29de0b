/**
 * kill -9 on SQLite: a scheduler process claims every due timer and is killed while firing
 * the first one (inside its transaction, holding the write lock). Nothing of that firing
 * commits; once the dead scheduler's lease runs out, another scheduler fires every timer,
 * each once.
 */
import { afterEach, expect, it } from 'vitest';
import { ManualClock, ProcessManagerRuntime, TimerScheduler } from 'causeway';
import {
  openSqliteDatabase,
  SqliteOutboxStore,
  SqliteProcessStore,
  type SqliteDatabase,
} from 'causeway/sqlite';
import { fulfilment, orderPlaced, PAYMENT_TIMEOUT_MS } from '../sagas/order-fulfilment.js';
import { sqliteFiles } from './fixtures/sqlite-messaging-harness.js';
import { spawnFixture } from './fixtures/spawn-runner.js';

const files = sqliteFiles();
let db: SqliteDatabase | undefined;
afterEach(() => {
  db?.close();
  files.cleanup();
});

const LEASE_MS = 60_000;
const ORDERS = ['o-1', 'o-2', 'o-3', 'o-4', 'o-5'];

it('a scheduler killed after claiming leaves its timers to another, which fires each once', async () => {
  const file = files.next();
  db = openSqliteDatabase(file);
  const store = new SqliteProcessStore(db);
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const runtime = new ProcessManagerRuntime({ store, managers: [fulfilment], clock });
  for (const id of ORDERS) await runtime.handle(orderPlaced(id));
  clock.advance(PAYMENT_TIMEOUT_MS);

  const doomed = spawnFixture('timer-scheduler-process.ts', [
    file,
    'doomed',
    String(clock.now().getTime()),
    String(LEASE_MS),
  ]);
  const firing = await new Promise<string>((resolve, reject) => {
    doomed.lines.once('line', (line) => resolve(line));
    void doomed.exited.then(() => reject(new Error(`exited early: ${doomed.stderr()}`)));
  });
  expect(JSON.parse(firing)).toEqual({ firing: 'o-1' });
  doomed.kill('SIGKILL');
  await doomed.exited;

  // Every timer is still unfired, held by the dead scheduler until its lease runs out.
  for (const id of ORDERS) {
    expect(await store.timers.pending('fulfilment', id)).toMatchObject([
      { leaseOwner: 'doomed', firedAt: undefined, attempts: 1 },
    ]);
  }
  const survivor = new TimerScheduler({
    store: store.timers,
    fire: runtime.fireTimer,
    clock,
    owner: 'survivor',
    leaseMs: LEASE_MS,
  });
  clock.advance(LEASE_MS - 1);
  expect(await survivor.runDue()).toBe(0);
  clock.advance(1);
  expect(await survivor.runDue()).toBe(ORDERS.length);
  clock.advance(10 * LEASE_MS);
  expect(await survivor.runDue()).toBe(0);

  const outbox = await new SqliteOutboxStore(db).claim('reader', 100, 1_000);
  expect(
    outbox
      .map(
        (r) =>
          `${r.destination}:${r.message.type}:${(r.message.data as { orderId: string }).orderId}`,
      )
      .sort(),
  ).toEqual(ORDERS.map((id) => `orders:CancelOrder:${id}`));
  for (const id of ORDERS) {
    expect(await runtime.get('fulfilment', id)).toMatchObject({
      status: 'completed',
      version: 2,
      state: { status: 'cancelled' },
    });
  }
}, 60_000);
