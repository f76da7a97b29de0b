import { expect, it } from 'vitest';
import { runSagaExample } from '../../examples/sagas/main.js';

it('the saga example charges once through a flaky gateway and releases stock for a declined card', async () => {
  const lines: string[] = [];
  await runSagaExample((line) => lines.push(line));
  expect(lines).toEqual([
    'order o-1 confirmed (pay-1)',
    'checkout-o-1: completed',
    '  execute reserve-stock #1 succeeded, execute charge-card #1 failed, execute charge-card #2 succeeded, execute confirm-order #1 succeeded',
    'checkout-o-2: failed (card declined: insufficient funds)',
    '  execute reserve-stock #1 succeeded, execute charge-card #1 failed, compensate reserve-stock #1 succeeded',
    'charges: 1, stock left: 3',
  ]);
});
