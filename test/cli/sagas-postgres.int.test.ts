import { createPostgresSagaStore, type PostgresSagaStore } from 'causeway/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresSchemas, postgresUrl } from '../adapters/fixtures/postgres-messaging-harness.js';
import { leftBehind } from '../sagas/fixtures.js';
import { jsonLines, runCli } from './run-cli.js';

// Every test starts a Node process (with tsx compiling the sources): give them room.
const SLOW = 30_000;

const schemas = postgresSchemas();
let schema: string;
let store: PostgresSagaStore;

beforeAll(async () => {
  schema = schemas.next();
  store = await createPostgresSagaStore({ connectionString: postgresUrl, schema });
  const at = new Date();
  await leftBehind(store, at, { id: 'order-1', name: 'checkout', currentStep: 'charge' }, 'dead');
  await store.releaseLease('order-1', 'dead');
});

afterAll(async () => {
  await store.close();
  await schemas.drop();
});

describe('causeway sagas (PostgreSQL)', () => {
  it(
    'lists, shows and aborts instances in the schema named by --schema',
    { timeout: SLOW },
    async () => {
      const list = await runCli([
        'sagas',
        'list',
        '--db',
        postgresUrl,
        '--schema',
        schema,
        '--json',
      ]);
      expect(list.stderr).toBe('');
      expect(jsonLines(list.stdout)).toEqual([
        expect.objectContaining({ id: 'order-1', status: 'running', leaseOwner: null }),
      ]);
      const abort = await runCli([
        'sagas',
        'abort',
        'order-1',
        '--db',
        postgresUrl,
        '--schema',
        schema,
      ]);
      expect(abort.code).toBe(0);
      expect(abort.stdout).toMatch(/^abort requested for order-1 at /);
      expect((await store.get('order-1'))?.abortRequestedAt).toBeInstanceOf(Date);
      // The table probe the dlq commands share: the transport's tables live in the same schema.
      const count = await runCli(['dlq', 'count', '--db', postgresUrl, '--schema', schema]);
      expect(count).toMatchObject({ code: 0, stdout: '0\n' });
    },
  );

  it('a schema without the table exits 1 and says where it looked', { timeout: SLOW }, async () => {
    const missing = await runCli([
      'sagas',
      'list',
      '--db',
      postgresUrl,
      '--schema',
      'cw_no_such_schema',
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      'schema "cw_no_such_schema" (its causeway_sagas table is missing)',
    );
    expect(missing.stderr).toContain('--schema names the schema');
  });
});
