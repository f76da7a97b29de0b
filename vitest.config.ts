import { defineConfig } from 'vitest/config';

// Two tiers by file name: `*.test.ts` needs no services, `*.int.test.ts` talks to real ones.
// The `source` condition resolves `causeway/*` self-imports to the TypeScript sources.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['test/**/*.int.test.ts', 'src/**/*.int.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Integration files share real databases; run them one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
