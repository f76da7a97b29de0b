/**
 * The PostgreSQL outbox and transport hand their batches to the server as one JSON array and
 * read the fields back as text (`json_to_recordset`): awkward strings must come back byte for
 * byte, through the outbox's claim and through a publish and its delivery.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTransport, toMessage, type Message } from 'causeway';
import {
  createPostgresOutboxStore,
  createPostgresTransportDriver,
  withTransaction,
} from 'causeway/postgres';
import { collector } from './fixtures/collector.js';
import { postgresSchemas, postgresUrl } from './fixtures/postgres-messaging-harness.js';

/** Quotes, backslashes, a literal "\u00e9" that must not be decoded, controls, non-BMP. */
const AWKWARD = [
  'say "hi"',
  'C:\\path\\to',
  'literal \\u00e9 stays',
  'é ü 中文 😀',
  'tab\tnew\nline\r',
  '{"json":"inside a string"}',
];

function awkwardMessages(): Message[] {
  return AWKWARD.map((text, i) =>
    toMessage({
      type: 'Awkward',
      data: { text, i },
      subject: text,
      ...(i % 2 === 0 ? { partitionkey: text } : {}),
      extensions: { note: text.replace(/[^a-z]/g, '') || 'x' },
    }),
  );
}

describe('PostgreSQL wire: batches as one JSON array', () => {
  const schemas = postgresSchemas();
  afterAll(() => schemas.drop());

  it('the outbox gives back exactly what was written', async () => {
    const schema = schemas.next();
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
    const store = await createPostgresOutboxStore({ pool, schema });
    try {
      const written = awkwardMessages();
      await withTransaction(pool, (client) => store.write(client, 'wire', written));
      const claimed: Message[] = [];
      for (;;) {
        // Keyed records come one key head at a time; settle and claim again until empty.
        const batch = await store.claim('relay', 100, 30_000);
        if (batch.length === 0) break;
        claimed.push(...batch.map((r) => r.message));
        await store.markSent(
          'relay',
          batch.map((r) => r.sequence),
        );
      }
      expect(claimed.toSorted((a, b) => a.id.localeCompare(b.id))).toEqual(
        written.toSorted((a, b) => a.id.localeCompare(b.id)),
      );
    } finally {
      await store.close();
      await pool.end();
    }
  });

  it('a publish stores the serialized data byte for byte and delivers it intact', async () => {
    const schema = schemas.next();
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 4 });
    const transport = createTransport(await createPostgresTransportDriver({ pool, schema }));
    try {
      const sent = awkwardMessages();
      const seen = collector<Message>(sent.length);
      await transport.subscribe('wire', 'reader', (m) => seen.add(m));
      await transport.publish('wire', sent);
      await seen.complete;
      expect(seen.items.toSorted((a, b) => a.id.localeCompare(b.id))).toEqual(
        sent.toSorted((a, b) => a.id.localeCompare(b.id)),
      );
      const { rows } = await pool.query<{ id: string; body: string }>(
        `SELECT id, body FROM "${schema}".causeway_messages ORDER BY position`,
      );
      expect(rows).toEqual(sent.map((m) => ({ id: m.id, body: JSON.stringify(m.data) })));
    } finally {
      await transport.close();
      await pool.end();
    }
  });
});
