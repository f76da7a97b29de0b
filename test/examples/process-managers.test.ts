import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runProcessManagerExample } from '../../examples/process-managers/main.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('the process-manager example cancels the unpaid order once, after a restart, and ships the paid one', async () => {
  dir = mkdtempSync(join(tmpdir(), 'causeway-pm-example-'));
  const lines: string[] = [];
  await runProcessManagerExample(join(dir, 'app.db'), (line) => lines.push(line));
  expect(lines).toEqual([
    'timers fired: 1, then 0',
    'o-1: {"status":"cancelled","amount":30} (completed)',
    'o-2: {"status":"paid","amount":50} (completed)',
    'outbox → shipping: ShipOrder {"orderId":"o-2"}',
    'outbox → orders: CancelOrder {"orderId":"o-1"}',
  ]);
});
