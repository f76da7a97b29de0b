import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteTransportDriver } from 'causeway/sqlite';
import { transportIoCases } from './fixtures/transport-io-cases.js';

transportIoCases('sqlite', () => {
  const root = mkdtempSync(join(tmpdir(), 'cw-streams-transport-'));
  const filename = join(root, 'transport.db');
  let counter = 0;
  return {
    // Every driver on one file is another process on the same broker.
    connect: async () => new SqliteTransportDriver({ filename, pollIntervalMs: 20 }),
    destination: () => `stream-${++counter}`,
    publishPoison: (driver, destination, body) =>
      (driver as SqliteTransportDriver).publishRaw(destination, [
        { headers: { 'content-type': 'application/json' }, body },
      ]),
    deadLetters: async (driver, destination) =>
      (await (driver as SqliteTransportDriver).deadLetters(destination)).map((letter) => ({
        body: letter.message.body,
        reason: letter.failure.reason,
      })),
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
});
