/**
 * Causeway in one file: bank accounts, event-sourced in a SQLite file.
 * Run it with `npm run quickstart` (or `npm run quickstart -- <file.db>` to choose the file).
 */
import { rmSync } from 'node:fs';
import { relative, resolve } from 'node:path';
// #region snippet
import { EventRegistry, formatPath, isConcurrencyError, isValidationError } from 'causeway';
import type { EventStore, RecordedEvent } from 'causeway';
import { createSqliteEventStore } from 'causeway/sqlite';
import { z } from 'zod';
// #endregion

// A fresh file every run, so the story below always reads the same.
const filename = resolve(process.argv[2] ?? 'causeway.db');
for (const suffix of ['', '-wal', '-shm']) rmSync(filename + suffix, { force: true });
console.log(`Causeway quickstart: bank accounts in ${filename}\n`);

// #region snippet
// Event types and their schemas (zod here; any Standard Schema library works).
const registry = new EventRegistry()
  .register('AccountOpened', {
    schema: z.object({ owner: z.string().min(1), currency: z.enum(['EUR', 'USD']) }),
  })
  .register('MoneyDeposited', { schema: z.object({ amount: z.number().positive() }) })
  .register('MoneyWithdrawn', { schema: z.object({ amount: z.number().positive() }) });

const store = createSqliteEventStore({ filename, registry });

// One stream per account. Appends are atomic: all the events or none.
await store.appendToStream('account-ada', [
  { type: 'AccountOpened', data: { owner: 'Ada', currency: 'EUR' } },
  { type: 'MoneyDeposited', data: { amount: 100 } },
]);
await store.appendToStream('account-bob', [
  { type: 'AccountOpened', data: { owner: 'Bob', currency: 'EUR' } },
  { type: 'MoneyDeposited', data: { amount: 20 } },
]);
console.log('1. Opened account-ada (100 EUR) and account-bob (20 EUR)');

function change(event: RecordedEvent): number {
  // The registry validated `data` on append, so reading `amount` back is safe.
  const { amount } = event.data as { amount: number };
  if (event.type === 'MoneyDeposited') return amount;
  if (event.type === 'MoneyWithdrawn') return -amount;
  return 0;
}

// State is a fold over the stream; its version guards the next write.
async function loadAccount(store: EventStore, id: string) {
  let balance = 0;
  let version = 0;
  for await (const event of store.readStream(id)) {
    balance += change(event);
    version = event.streamVersion;
  }
  return { balance, version };
}

// Two writers load the same version; the second append is rejected, never merged.
const atm = await loadAccount(store, 'account-ada');
const app = await loadAccount(store, 'account-ada');
const withdraw = (amount: number) => [{ type: 'MoneyWithdrawn', data: { amount } }];
await store.appendToStream('account-ada', withdraw(30), { expectedVersion: atm.version });
console.log(
  `2. ATM and app both loaded account-ada at version ${atm.version}; the ATM withdrew 30`,
);
try {
  await store.appendToStream('account-ada', withdraw(50), { expectedVersion: app.version });
} catch (error) {
  if (!isConcurrencyError(error)) throw error;
  console.log(`   App conflicted: ${error.message}`);
  const fresh = await loadAccount(store, 'account-ada');
  if (fresh.balance >= 50) {
    await store.appendToStream('account-ada', withdraw(50), { expectedVersion: fresh.version });
    console.log(`   App reloaded (balance ${fresh.balance}), retried and withdrew 50`);
  }
}

// Invalid data is rejected before anything is written, naming every bad field.
try {
  await store.appendToStream('account-eve', [
    { type: 'AccountOpened', data: { owner: '', currency: 'GBP' } },
  ]);
} catch (error) {
  if (!isValidationError(error)) throw error;
  console.log('3. Rejected an invalid AccountOpened:');
  for (const issue of error.issues) console.log(`   ${formatPath(issue.path)}: ${issue.message}`);
}

// A subscription catches up on the log, then follows it live, keeping a read model current.
const balances = new Map<string, number>();
const subscription = store.subscribe('balances', (event) => {
  balances.set(event.streamId, (balances.get(event.streamId) ?? 0) + change(event));
});
await subscription.waitForPosition(await store.headPosition());
await subscription.stop();
console.log(
  `4. Read model built by a subscription: ${JSON.stringify(Object.fromEntries(balances))}`,
);
// #endregion

console.log('5. account-ada, read back:');
for await (const e of store.readStream('account-ada')) {
  console.log(`   v${e.streamVersion} ${e.type} ${JSON.stringify(e.data)}`);
}

await store.close();
const shown = relative(process.cwd(), filename);
const db = shown.startsWith('..') ? filename : shown;
console.log(`\nDone. Look inside with the CLI:
  ./bin/causeway streams list --db ${db}
  ./bin/causeway streams read account-ada --db ${db}
  ./bin/causeway events tail --db ${db}`);
