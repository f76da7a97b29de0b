import { expect, it } from 'vitest';
import { runOutboxExample } from '../../examples/outbox/main.js';

it('the outbox example publishes both messages once, books each once and charges once', async () => {
  const lines: string[] = [];
  await runOutboxExample(':memory:', (line) => lines.push(line));
  expect(lines).toEqual([
    'relay published 2',
    'redelivered o-1: duplicate',
    'ledger rows: 2',
    'receipts: r-1, r-1; charged 1x',
  ]);
});
