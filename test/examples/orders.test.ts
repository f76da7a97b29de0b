import { describe, expect, it } from 'vitest';
import { openBackend } from '../../examples/orders/backend.js';
import { runOrderExample } from '../../examples/orders/main.js';

describe('order example', () => {
  it('runs end to end: commands, domain refusals, validation, enriched read model, queries, metadata', async () => {
    const backend = await openBackend('memory');
    const lines: string[] = [];
    try {
      await runOrderExample(backend, (line) => lines.push(line));
    } finally {
      await backend.close();
    }
    expect(lines).toContain(
      'refused: Order o-3 is cancelled; only pending orders can be confirmed. (rule order.not_pending)',
    );
    expect(lines.find((l) => l.startsWith('rejected:'))).toContain('payload.items');
    expect(lines).toContain(
      'GetOrder o-2 → Ada Lovelace, pending, total 38.5, items: 3× Punch cards (box of 100), 1× Analytical Engine manual',
    );
    expect(lines).toContain('ListOrdersByStatus confirmed → o-1');
    expect(lines).toContain('ListOrdersByStatus cancelled → o-3');
    expect(lines.find((l) => l.startsWith('order-o-1 v1 OrderCreated'))).toMatch(
      /correlation=checkout-42 .* user=clerk-7$/,
    );
  });
});
