import { MemoryStateRepository, type TableSinkSpec } from 'causeway';
import {
  streamStateContract,
  type Revenue,
  type StreamStateFixture,
} from '../contracts/stream-state.contract.js';

/** The reference repository: one shared instance per fixture stands in for the database. */
streamStateContract({
  name: 'memory',
  create: () => {
    let repository: MemoryStateRepository | undefined;
    const fixture: StreamStateFixture = {
      table: 'revenue',
      // Tables are fixed when the repository is made; every "reopen" shares that instance.
      repository: (tables: readonly TableSinkSpec[]) =>
        (repository ??= new MemoryStateRepository({ tables })),
      tableRows: () => {
        const rows = [
          ...(repository?.tables.get('revenue')?.values() ?? []),
        ] as unknown as Revenue[];
        return Promise.resolve(
          rows.sort(
            (a, b) => a.product.localeCompare(b.product) || a.window_start - b.window_start,
          ),
        );
      },
      rowCount: (scope) =>
        Promise.resolve(repository?.rowCount(scope) ?? { keyValues: 0, windows: 0, outbox: 0 }),
      close: () => Promise.resolve(),
    };
    return Promise.resolve(fixture);
  },
  cleanup: () => Promise.resolve(),
});
