import { deepStrictEqual } from 'node:assert/strict';
import { createMemoryEventStore } from '../event-store/memory-event-store.js';
import type { NewEvent } from '../event-store/types.js';
import { MemoryProjectionStore } from '../projections/memory-projection-store.js';
import type { ProjectionDefinition } from '../projections/projection.js';
import { ProjectionRunner } from '../projections/projection-runner.js';
import type { Row, TableDefinition } from '../projections/read-model.js';

/** An event for a projection spec: which stream it was appended to, plus the event itself. */
export type GivenEvent = NewEvent & { streamId: string };

/**
 * Given/when/then for projections: append the given events to an in-memory store, run the
 * projection over them exactly as a runner would, then compare a table's rows.
 *
 *   await projectionSpec(orderReadModel)
 *     .given([{ streamId: 'order-1', type: 'OrderCreated', data: {...} }])
 *     .then(orderViews, [{ id: 'order-1', status: 'pending', ... }]);
 */
export function projectionSpec(projection: ProjectionDefinition) {
  return {
    given(events: readonly GivenEvent[]) {
      const run = async () => {
        const store = createMemoryEventStore();
        const projections = new MemoryProjectionStore();
        for (const { streamId, ...event } of events) await store.appendToStream(streamId, [event]);
        // No retries: a handler error in a spec is a bug to show at once.
        const runner = new ProjectionRunner({
          store,
          projections,
          projection,
          pollIntervalMs: 1,
          retry: { maxAttempts: 1 },
        });
        try {
          await Promise.race([runner.waitForPosition(await store.headPosition()), runner.done]);
          // A runner that stops early has failed: surface its error instead of comparing rows.
          if (runner.state === 'failed') await runner.done;
        } finally {
          await runner.stop();
        }
        return { store, projections };
      };
      return {
        /** Compares the whole table (ordered by primary key) with `expected`. */
        async then<R extends Row>(
          table: TableDefinition<R>,
          expected: readonly Partial<R>[],
        ): Promise<void> {
          const { projections, store } = await run();
          const rows = await projections.reader().table(table).find({ orderBy: table.primaryKey });
          await store.close();
          const picked = rows.map((row, i) => pick(row, Object.keys(expected[i] ?? row)));
          deepStrictEqual(picked, expected);
        },
      };
    },
  };
}

/** Compares only the columns the expectation names, so specs stay focused. */
function pick(row: Row, keys: readonly string[]): Row {
  return Object.fromEntries(keys.map((key) => [key, row[key]]));
}
