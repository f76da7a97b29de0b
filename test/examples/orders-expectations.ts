import { expect } from 'vitest';

/** What the order example prints on every backend: the same domain, the same read model. */
export function expectOrderExampleOutput(lines: readonly string[]): void {
  expect(lines).toContain(
    'refused: Order o-3 is cancelled; only pending orders can be confirmed. (rule order.not_pending)',
  );
  expect(lines.find((l) => l.startsWith('rejected:'))).toContain('payload.items');
  expect(lines).toContain(
    'GetOrder o-2 → Ada Lovelace, pending, total 38.5, items: 3× Punch cards (box of 100), 1× Analytical Engine manual',
  );
  expect(lines).toContain('ListOrdersByStatus pending → o-2');
  expect(lines).toContain('ListOrdersByStatus confirmed → o-1');
  expect(lines).toContain('ListOrdersByStatus cancelled → o-3');
  expect(lines.find((l) => l.startsWith('order-o-1 v1 OrderCreated'))).toMatch(
    /correlation=checkout-42 .* user=clerk-7$/,
  );
}
