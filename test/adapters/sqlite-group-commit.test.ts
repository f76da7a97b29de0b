import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteDatabase, withTransaction } from 'causeway/sqlite';
// Internal: the transport's writer, tested on its own for what the transport cannot show.
import { SqliteGroupCommit } from '../../src/adapters/sqlite/sqlite-group-commit.js';
import { gateFor } from '../../src/adapters/sqlite/sqlite-transaction.js';
import { sqliteFiles } from './fixtures/sqlite-messaging-harness.js';

const files = sqliteFiles();
afterAll(() => files.cleanup());

function open() {
  const file = files.next();
  const db = openSqliteDatabase(file);
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)');
  // Another connection sees only what committed, as another process would.
  const observer = openSqliteDatabase(file);
  const insert = db.prepare<[string]>('INSERT INTO notes (text) VALUES (?)');
  const committed = () =>
    observer.prepare<[], string>('SELECT text FROM notes ORDER BY id').pluck().all();
  return {
    db,
    writes: new SqliteGroupCommit(db),
    insert: (text: string) => insert.run(text).lastInsertRowid,
    committed,
    close: () => {
      observer.close();
      db.close();
    },
  };
}

describe('SqliteGroupCommit', () => {
  it('commits the writes issued in one turn together, each caller hearing back after the commit', async () => {
    const t = open();
    try {
      const seenByOthers: string[][] = [];
      const results = await Promise.all([
        t.writes.run(() => t.insert('a')),
        t.writes.run(() => {
          // The first write has run but is not committed yet: both are in one transaction.
          seenByOthers.push(t.committed());
          return t.insert('b');
        }),
      ]);
      expect(seenByOthers).toEqual([[]]);
      expect(results).toEqual([1, 2]);
      expect(t.committed()).toEqual(['a', 'b']);
    } finally {
      t.close();
    }
  });

  it('rolls back only the write that failed; the others commit', async () => {
    const t = open();
    try {
      const outcomes = await Promise.allSettled([
        t.writes.run(() => t.insert('a')),
        t.writes.run(() => {
          t.insert('broken');
          throw new Error('rule broken');
        }),
        t.writes.run(() => t.insert('c')),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((outcomes[1] as PromiseRejectedResult).reason).toEqual(new Error('rule broken'));
      expect(t.committed()).toEqual(['a', 'c']);
    } finally {
      t.close();
    }
  });

  it('never joins an async transaction of this process: a write from outside waits for it', async () => {
    const t = open();
    try {
      let opened!: () => void;
      let finish!: () => void;
      let insideWrite: Promise<unknown> | undefined;
      const transaction = withTransaction(t.db, async () => {
        t.insert('inside');
        opened();
        // Part of the transaction (issued by its task), in the same turn as the write below.
        insideWrite = t.writes.run(() => t.insert('inside, through the writer'));
        await new Promise<void>((resolve) => (finish = resolve));
        throw new Error('business rule failed');
      });
      await new Promise<void>((resolve) => (opened = resolve));
      // Issued from outside the transaction's task while it is open.
      const outside = t.writes.run(() => t.insert('outside'));
      finish();
      await expect(transaction).rejects.toThrow('business rule failed');
      await outside;
      await insideWrite;
      expect(t.committed()).toEqual(['outside']);
    } finally {
      t.close();
    }
  });

  it('keeps call order for writes issued outside an async transaction that opens between them', async () => {
    const t = open();
    try {
      // Not awaited in between: before group commit, `a` was written at call time, so the
      // order of calls was the order of rows. A transaction opening in the same turn must not
      // overtake `a`, still waiting for its batch, and `b` (issued while the transaction is
      // open, from outside it) must not overtake either.
      const a = t.writes.run(() => t.insert('a'));
      const transaction = withTransaction(t.db, async () => {
        t.insert('transaction');
      });
      const b = t.writes.run(() => t.insert('b'));
      await Promise.all([a, b, transaction]);
      expect(t.committed()).toEqual(['a', 'transaction', 'b']);
    } finally {
      t.close();
    }
  });

  it('a write made inside a transaction comes after a write issued before the transaction opened', async () => {
    const t = open();
    try {
      // The transport's publish inside the caller's transaction runs in that transaction; the
      // earlier publish, still waiting for its batch, must get the earlier position.
      const before = t.writes.run(() => t.insert('before'));
      const transaction = withTransaction(t.db, () =>
        t.writes.run(() => t.insert('inside, through the writer')),
      );
      await Promise.all([before, transaction]);
      expect(t.committed()).toEqual(['before', 'inside, through the writer']);
    } finally {
      t.close();
    }
  });

  it('a transaction opened while another holds the file still lets an earlier batch go first', async () => {
    const t = open();
    try {
      let opened!: () => void;
      let release!: () => void;
      const first = withTransaction(t.db, async () => {
        t.insert('first transaction');
        opened();
        await new Promise<void>((resolve) => (release = resolve));
      });
      await new Promise<void>((resolve) => (opened = resolve));
      // Issued while the file is held: the batch queues for the gate ...
      const queued = t.writes.run(() => t.insert('queued write'));
      // ... and a transaction asked for after it queues behind it.
      const second = withTransaction(t.db, async () => {
        t.insert('second transaction');
      });
      release();
      await Promise.all([first, queued, second]);
      expect(t.committed()).toEqual(['first transaction', 'queued write', 'second transaction']);
    } finally {
      t.close();
    }
  });

  it('the file gate forgets a writer once its batch took its turn', async () => {
    const t = open();
    try {
      const gate = gateFor(t.db);
      const write = t.writes.run(() => t.insert('a'));
      expect(gate.pendingBatches).toBe(1);
      await write;
      // Without a transaction ever opening, the gate would otherwise keep every writer (and
      // its connection) that once wrote.
      expect(gate.pendingBatches).toBe(0);
    } finally {
      t.close();
    }
  });

  it('flush commits what is queued before the connection closes', async () => {
    const t = open();
    try {
      const write = t.writes.run(() => t.insert('last'));
      await t.writes.flush();
      t.db.close();
      await write;
      expect(t.committed()).toEqual(['last']);
    } finally {
      t.close();
    }
  });
});
