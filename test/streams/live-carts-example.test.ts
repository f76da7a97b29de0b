import { expect, it } from 'vitest';
import { runLiveCartsExample } from '../../examples/streams/live-carts.js';

it('the live carts example counts items as they are appended and stores each count as an event', async () => {
  const lines: string[] = [];
  await runLiveCartsExample((line) => lines.push(line));
  expect(lines).toEqual(['records processed: 3', 'cart-1: 1', 'cart-1: 2', 'cart-2: 1']);
});
