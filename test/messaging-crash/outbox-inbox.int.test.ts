/**
 * The outbox and the inbox under kill -9: a producer commits business rows with their
 * messages in the outbox (one transaction per command), a relay publishes them to the
 * PostgreSQL transport, a consumer applies each message's effect through the inbox. Every
 * role runs in its own process and is killed with SIGKILL at seeded random moments, then
 * started again. At the end every committed command has exactly one effect: none lost,
 * none applied twice, none for a command that never committed.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresTransportDriver } from 'causeway/postgres';
import { spawnFixture } from '../adapters/fixtures/spawn-runner.js';

const url =
  process.env['CAUSEWAY_PG_URL'] ?? 'postgres://postgres:postgres@127.0.0.1:5432/causeway';
const schema = `cw_crash_${randomBytes(6).toString('hex')}`;
// CAUSEWAY_CRASH_SEED=<n> replays a run's kill schedule.
const seed = Number(process.env['CAUSEWAY_CRASH_SEED'] ?? randomInt(2 ** 31));
const ROLES = ['producer', 'relay', 'consumer'] as const;
type Role = (typeof ROLES)[number];
const KILLS = 8;

/** mulberry32: a tiny seeded generator, so a failing schedule can be replayed exactly. */
function seeded(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const admin = new pg.Pool({ connectionString: url, max: 2 });
const count = async (sql: string) => Number((await admin.query<{ n: string }>(sql)).rows[0]!.n);

beforeAll(async () => {
  // The transport's migration creates every Causeway table (queue, outbox, inbox) in the schema.
  const driver = await createPostgresTransportDriver({ connectionString: url, schema });
  await driver.close();
  await admin.query(`
    CREATE TABLE "${schema}".crash_orders (command_id uuid PRIMARY KEY);
    CREATE TABLE "${schema}".crash_effects (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      command_id uuid NOT NULL,
      message_id text NOT NULL
    );`);
});

afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

/** Starts a role's process; `ready` resolves once it works, `exited` when it is gone. */
function start(role: Role, duplicates: string[]) {
  let ready!: () => void;
  const working = new Promise<void>((done) => (ready = done));
  const child = spawnFixture(
    fileURLToPath(new URL('./fixtures/outbox-inbox-role.ts', import.meta.url)),
    [role, url, schema],
  );
  child.lines.on('line', (text) => {
    const line = JSON.parse(text) as { ready?: boolean; duplicate?: string };
    if (line.ready) ready();
    if (line.duplicate !== undefined) duplicates.push(line.duplicate);
  });
  const failed = child.exited.then(() => {
    throw new Error(`${role} exited before it was ready: ${child.stderr()}`);
  });
  failed.catch(() => undefined);
  return Object.assign(child, { ready: Promise.race([working, failed]) });
}

describe('outbox + inbox on PostgreSQL under kill -9', () => {
  it(
    `every committed command has exactly one effect after ${KILLS} seeded random SIGKILLs of producer, relay and consumer`,
    { timeout: 180_000 },
    async () => {
      console.info(
        `outbox/inbox crash test: seed ${seed} (CAUSEWAY_CRASH_SEED=${seed} replays it)`,
      );
      const random = seeded(seed);
      const duplicates: string[] = [];
      const running = new Map<Role, ReturnType<typeof start>>();
      const kills: Record<Role, number> = { producer: 0, relay: 0, consumer: 0 };
      try {
        for (const role of ROLES) running.set(role, start(role, duplicates));
        await Promise.all([...running.values()].map((p) => p.ready));
        // Each role dies at least once (a seeded order), then seeded picks.
        const victims: Role[] = [...ROLES];
        for (let i = victims.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [victims[i], victims[j]] = [victims[j]!, victims[i]!];
        }
        while (victims.length < KILLS) victims.push(ROLES[Math.floor(random() * ROLES.length)]!);
        for (const victim of victims) {
          // The random moment is the point of the test: kills land mid-transaction, between
          // publish and mark-sent, between effect and ack — wherever the clock says.
          await new Promise((done) => setTimeout(done, 150 + random() * 850));
          const dying = running.get(victim)!;
          dying.kill('SIGKILL');
          await dying.exited;
          kills[victim]++;
          const next = start(victim, duplicates);
          running.set(victim, next);
          await next.ready;
        }
        // The producer stops for good (mid-command or not); the others drain what it committed.
        const producer = running.get('producer')!;
        producer.kill('SIGKILL');
        await producer.exited;
        await drained();
      } finally {
        for (const p of running.values()) p.kill('SIGKILL');
        await Promise.all([...running.values()].map((p) => p.exited));
      }

      const committed = await count(`SELECT count(*) AS n FROM "${schema}".crash_orders`);
      const lost = await count(
        `SELECT count(*) AS n FROM "${schema}".crash_orders o
         WHERE NOT EXISTS (SELECT 1 FROM "${schema}".crash_effects e WHERE e.command_id = o.command_id)`,
      );
      const twice = await count(
        `SELECT count(*) AS n FROM (SELECT command_id FROM "${schema}".crash_effects
         GROUP BY command_id HAVING count(*) > 1) d`,
      );
      const phantom = await count(
        `SELECT count(*) AS n FROM "${schema}".crash_effects e
         WHERE NOT EXISTS (SELECT 1 FROM "${schema}".crash_orders o WHERE o.command_id = e.command_id)`,
      );
      const republished = await count(
        `SELECT count(*) - count(DISTINCT id) AS n FROM "${schema}".causeway_messages`,
      );
      console.info(
        `seed ${seed}: ${committed} commands committed; kills ${JSON.stringify(kills)}; ` +
          `relay re-published ${republished}, inbox turned away ${duplicates.length} redeliveries; ` +
          `lost ${lost}, applied twice ${twice}, phantom ${phantom}`,
      );
      expect(committed).toBeGreaterThan(100);
      expect({ lost, twice, phantom }, `seed ${seed}`).toEqual({ lost: 0, twice: 0, phantom: 0 });
      expect(await count(`SELECT count(*) AS n FROM "${schema}".crash_effects`)).toBe(committed);
      for (const role of ROLES) expect(kills[role]).toBeGreaterThanOrEqual(1);
    },
  );
});

/**
 * Waits until the outbox has nothing unsent and the group has nothing unsettled: by then
 * every redelivery has run (and met the inbox). Another process's state: polled.
 */
async function drained(): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const unsent = await count(
      `SELECT count(*) AS n FROM "${schema}".causeway_outbox WHERE sent_at IS NULL`,
    );
    const unsettled = await count(
      `SELECT count(*) AS n FROM "${schema}".causeway_deliveries WHERE group_name = 'effects'`,
    );
    if (unsent === 0 && unsettled === 0) return;
    if (Date.now() > deadline)
      throw new Error(`not drained in time: ${unsent} unsent, ${unsettled} unsettled`);
    await new Promise((done) => setTimeout(done, 100));
  }
}
