/**
 * The PostgreSQL transport NOTIFYs only when a consumer in another session may need waking
 * (migration 13): the LISTEN connection of a process consuming a destination holds that
 * destination's listen lock, and a publish tries it. These tests pin both halves: no NOTIFY
 * when nobody consumes, and every consumer in another process woken without its poll, also
 * while it starts during a stream of publishes and after its LISTEN session was cut.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTransport, type Transport } from 'causeway';
import { createPostgresTransportDriver, schemaIdentity } from 'causeway/postgres';
import { eventually } from 'causeway/testing';
import { LISTEN_LOCK_CLASS } from '../../src/adapters/postgres/postgres-transport-sql.js';
import { collector } from './fixtures/collector.js';
import { postgresUrl } from './fixtures/postgres-transport-harness.js';

const schema = `cw_test_${randomBytes(6).toString('hex')}`;
/** Each transport's consumers see another process's publishes only through a NOTIFY. */
const ONLY_A_NOTIFY = 60_000;
let counter = 0;

describe('PostgreSQL transport: wake-ups across processes', () => {
  const admin = new pg.Client({ connectionString: postgresUrl });
  const open: Transport[] = [];

  beforeAll(async () => {
    await admin.connect();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });
  afterAll(async () => {
    try {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end();
    }
  });

  /** Another process: its own pool and LISTEN connection. */
  const transport = async () => {
    const t = createTransport(
      await createPostgresTransportDriver({
        connectionString: postgresUrl,
        schema,
        pollIntervalMs: ONLY_A_NOTIFY,
      }),
    );
    open.push(t);
    return { t };
  };

  /** The sessions holding `destination`'s listen lock (granted), by backend pid. */
  const listeners = async (destination: string) => {
    const { rows } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND objsubid = 2
         AND classid::int8 = $1::int8 AND objid::int8 = hashtext($2)::int8 & 4294967295`,
      [LISTEN_LOCK_CLASS, `${schema} ${destination}`],
    );
    return rows.map((row) => row.pid);
  };

  it('a publish NOTIFYs only while a consumer of its destination runs in another session', async () => {
    const watcher = new pg.Client({ connectionString: postgresUrl });
    await watcher.connect();
    try {
      const channel = `${schemaIdentity(schema).statementPrefix}messages`;
      const payloads: string[] = [];
      const marked = collector<string>(1);
      watcher.on('notification', ({ payload = '' }) => {
        if (payload === 'marker') marked.add(payload);
        else payloads.push(payload);
      });
      await watcher.query(`LISTEN "${channel}"`);
      const { t: producer } = await transport();
      const { t: consumer } = await transport();
      const dest = `dest-${++counter}`;

      // Nobody consumes `dest`: the publish has no one to wake.
      await producer.publish(dest, [{ type: 'Unheard', data: {} }]);
      const seen = collector<string>(2);
      const sub = await consumer.subscribe(dest, 'g', (m) => seen.add(m.type));
      await eventually(async () => (await listeners(dest)).length === 1, { what: 'listen lock' });
      await producer.publish(dest, [{ type: 'Heard', data: {} }]);
      await seen.complete;
      expect(seen.items).toEqual(['Unheard', 'Heard']);
      // Closing waits for the producer's last NOTIFY; a listener gets notifications in commit
      // order, so every one the producer sent arrives before the marker.
      await producer.close();
      await admin.query(`SELECT pg_notify($1, 'marker')`, [channel]);
      await marked.complete;
      expect(payloads).toHaveLength(1);

      await sub.stop();
      await eventually(async () => (await listeners(dest)).length === 0, {
        what: 'listen lock released',
      });
    } finally {
      await watcher.end();
    }
  });

  it('a consumer that starts while another process publishes gets every message without its poll', async () => {
    const { t: producer } = await transport();
    const { t: consumer } = await transport();
    const dest = `dest-${++counter}`;
    const total = 300;
    const seen = collector<number>(total);
    let published = 0;
    const publishing = (async () => {
      for (; published < total; published++)
        await producer.publish(dest, [{ type: 'N', data: { n: published } }]);
    })();
    await eventually(() => published >= 20, { what: 'publishing under way', pollMs: 1 });
    await consumer.subscribe(dest, 'g', (m) => seen.add((m.data as { n: number }).n));
    await publishing;
    await seen.complete;
    expect(new Set(seen.items).size).toBe(total);
  });

  it('a process already listening takes the lock of a destination it starts consuming later', async () => {
    const { t: producer } = await transport();
    const { t: consumer } = await transport();
    const [first, second] = [`dest-${++counter}`, `dest-${++counter}`];
    await consumer.subscribe(first, 'g', () => undefined);
    await eventually(async () => (await listeners(first)).length === 1, { what: 'first lock' });
    const seen = collector<string>(1);
    await consumer.subscribe(second, 'g', (m) => seen.add(m.type));
    await eventually(async () => (await listeners(second)).length === 1, { what: 'second lock' });
    await producer.publish(second, [{ type: 'Later', data: {} }]);
    await seen.complete;
    expect(seen.items).toEqual(['Later']);
  });

  it('a lock take that fails on a live connection (cancelled, lock_timeout) is retried there, the other locks kept', async () => {
    const { t: producer } = await transport();
    const { t: consumer } = await transport();
    const [first, second] = [`dest-${++counter}`, `dest-${++counter}`];
    await consumer.subscribe(first, 'g', () => undefined);
    await eventually(async () => (await listeners(first)).length === 1, { what: 'first lock' });
    const [session] = await listeners(first);
    // Another session holds the second destination's listen lock exclusively, so the LISTEN
    // session's take waits; cancelling that wait fails the query but leaves the session up.
    const blocker = new pg.Client({ connectionString: postgresUrl });
    await blocker.connect();
    try {
      await blocker.query('SELECT pg_advisory_lock($1::int4, hashtext($2::text))', [
        LISTEN_LOCK_CLASS,
        `${schema} ${second}`,
      ]);
      const seen = collector<string>(1);
      await consumer.subscribe(second, 'g', (m) => seen.add(m.type));
      await eventually(
        async () => {
          const { rows } = await admin.query(
            `SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND NOT granted`,
            [session],
          );
          return rows.length === 1;
        },
        { what: 'the take waiting for the lock' },
      );
      await admin.query('SELECT pg_cancel_backend($1)', [session]);
      await blocker.query('SELECT pg_advisory_unlock_all()');
      await eventually(async () => (await listeners(second)).length === 1, {
        what: 'the second lock taken again',
      });
      // Same session: the first destination's lock (and wake-ups) never went away.
      expect(await listeners(second)).toEqual([session]);
      expect(await listeners(first)).toEqual([session]);
      await producer.publish(second, [{ type: 'AfterTheFailedTake', data: {} }]);
      await seen.complete;
      expect(seen.items).toEqual(['AfterTheFailedTake']);
    } finally {
      await blocker.end();
    }
  });

  it("takes the listen lock again after its LISTEN session was cut, and is woken by others' publishes", async () => {
    const { t: producer } = await transport();
    const { t: consumer } = await transport();
    const dest = `dest-${++counter}`;
    const seen = collector<string>(2);
    await consumer.subscribe(dest, 'g', (m) => seen.add(m.type));
    await eventually(async () => (await listeners(dest)).length === 1, { what: 'listen lock' });
    const [before] = await listeners(dest);
    await admin.query('SELECT pg_terminate_backend($1)', [before]);
    await eventually(
      async () => {
        const now = await listeners(dest);
        return now.length === 1 && now[0] !== before;
      },
      { what: 'listen lock taken again by a new session' },
    );
    await producer.publish(dest, [{ type: 'First', data: {} }]);
    await producer.publish(dest, [{ type: 'Second', data: {} }]);
    await seen.complete;
    expect(seen.items).toEqual(['First', 'Second']);
  });
});
