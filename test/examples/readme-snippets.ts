import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** The README block marked `<!-- snippet: <example>#snippet -->` is the example's `#region snippet`. */
export function expectReadmeSnippet(example: string): void {
  const region = /\/\/ #region snippet\n([\s\S]*?)\/\/ #endregion/.exec(read(example))?.[1];
  const marker = `<!-- snippet: ${example}#snippet -->\n\n\`\`\`ts\n`;
  const readme = read('README.md');
  const from = readme.indexOf(marker);
  expect(from).toBeGreaterThan(0);
  const block = readme.slice(
    from + marker.length,
    readme.indexOf('```\n\n<!-- /snippet -->', from),
  );
  // On failure: copy the region (without the marker lines) into README.md between the markers.
  expect(block).toBe(region);
}
