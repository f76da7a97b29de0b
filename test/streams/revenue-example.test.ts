import { expect, it } from 'vitest';
import { runRevenueExample } from '../../examples/streams/revenue.js';
import { expectReadmeSnippet } from '../examples/readme-snippets.js';

it('the revenue example totals each product per minute once per window and dead-letters the late order', () => {
  const lines: string[] = [];
  runRevenueExample((line) => lines.push(line));
  expect(lines).toEqual([
    '12:00 espresso: 6',
    '12:00 croissant: 4',
    '12:01 espresso: 4',
    '12:01 croissant: 2',
    'late orders: 1 (metric: 1)',
  ]);
});

it('the README stream-processing snippet is the snippet region of examples/streams/revenue.ts', () => {
  expectReadmeSnippet('examples/streams/revenue.ts');
});
