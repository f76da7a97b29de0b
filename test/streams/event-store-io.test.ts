import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createSqliteEventStore } from 'causeway/sqlite';
import { eventStoreIoCases } from './fixtures/event-store-io-cases.js';

const root = mkdtempSync(join(tmpdir(), 'cw-streams-es-'));
let files = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

eventStoreIoCases('sqlite', async () => {
  const store = createSqliteEventStore({ filename: join(root, `store-${++files}.db`) });
  return { store, close: () => store.close() };
});
