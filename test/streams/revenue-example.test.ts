import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { runRevenueExample } from '../../examples/streams/revenue.js';

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
  const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
  const region = /\/\/ #region snippet\n([\s\S]*?)\/\/ #endregion/.exec(
    read('examples/streams/revenue.ts'),
  )?.[1];
  const marker = '<!-- snippet: examples/streams/revenue.ts#snippet -->\n\n```ts\n';
  const readme = read('README.md');
  const from = readme.indexOf(marker);
  expect(from).toBeGreaterThan(0);
  const block = readme.slice(
    from + marker.length,
    readme.indexOf('```\n\n<!-- /snippet -->', from),
  );
  // On failure: copy the region (without the marker lines) into README.md between the markers.
  expect(block).toBe(region);
});
