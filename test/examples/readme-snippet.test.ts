import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../cli/run-cli.js';

/** The README shows code that runs: its snippet is the `#region snippet` of the example. */
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

function between(text: string, start: string, end: string, where: string): string {
  const from = text.indexOf(start);
  const to = text.indexOf(end, from + start.length);
  if (from < 0 || to < 0) throw new Error(`${where}: no "${start}" … "${end}" block`);
  return text.slice(from + start.length, to);
}

it('the README quickstart snippet is the snippet regions of examples/quickstart/main.ts', () => {
  const regions = [
    ...read('examples/quickstart/main.ts').matchAll(
      /\/\/ #region snippet\n([\s\S]*?)\/\/ #endregion/g,
    ),
  ].map((match) => match[1]);
  expect(regions.length).toBeGreaterThan(0);
  // Several regions (the imports, then the body) show as one block, a blank line apart.
  const source = regions.join('\n');
  const readme = between(
    read('README.md'),
    '<!-- snippet: examples/quickstart/main.ts#snippet -->\n\n```ts\n',
    '```\n\n<!-- /snippet -->',
    'README.md',
  );
  // On failure: copy the regions (without the marker lines) into README.md between the markers.
  expect(readme).toBe(source);
});

/** The README block marked `<!-- snippet: <example>#snippet -->` is the example's one region. */
function expectSingleRegionSnippet(example: string): void {
  const regions = [
    ...read(example).matchAll(/\/\/ #region snippet\n([\s\S]*?)\/\/ #endregion/g),
  ].map((match) => match[1]);
  expect(regions).toHaveLength(1);
  const readme = between(
    read('README.md'),
    `<!-- snippet: ${example}#snippet -->\n\n\`\`\`ts\n`,
    '```\n\n<!-- /snippet -->',
    'README.md',
  );
  expect(readme).toBe(regions[0]);
}

it('the README messaging snippet is the snippet region of examples/messaging/main.ts', () => {
  expectSingleRegionSnippet('examples/messaging/main.ts');
});

it('the README sagas snippet is the snippet region of examples/sagas/main.ts', () => {
  expectSingleRegionSnippet('examples/sagas/main.ts');
});

it('the README process-manager snippet is the snippet region of examples/process-managers/main.ts', () => {
  expectSingleRegionSnippet('examples/process-managers/main.ts');
});

it('the README Redis snippet is the snippet region of examples/redis/main.ts', () => {
  expectSingleRegionSnippet('examples/redis/main.ts');
});

it('the README outbox snippet is the snippet region of examples/outbox/main.ts', () => {
  expectSingleRegionSnippet('examples/outbox/main.ts');
});

it('the README metrics snippet is the snippet region of examples/metrics/main.ts', () => {
  expectSingleRegionSnippet('examples/metrics/main.ts');
});

it('the README error table lists every error code', () => {
  const union = between(
    read('src/core/errors.ts'),
    'export type CausewayErrorCode =',
    ';',
    'errors.ts',
  );
  const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((match) => match[1]);
  expect(codes.length).toBeGreaterThan(0);
  const readme = read('README.md');
  expect(codes.filter((code) => !readme.includes(`| \`${code}\``))).toEqual([]);
});

it('the README live-stream snippet is the snippet region of examples/streams/live-carts.ts', () => {
  expectSingleRegionSnippet('examples/streams/live-carts.ts');
});
