/**
 * Causeway's column of the projections suite, as an application writes it: a projection runner
 * catching up, and commands through the bus into a decider with an inline projection. Shared
 * by SQLite and PostgreSQL: only how the stores are opened differs.
 */
import {
  CommandBus,
  DeciderRepository,
  ProjectionRunner,
  type EventStore,
  type ProjectionStore,
} from 'causeway';
import {
  command,
  orderDecider,
  orderReadModel,
  PAGE_SIZE,
  streamOf,
  type Contender,
  type OrderCommand,
} from './workload.js';

/** Each round empties the read model (untimed) and times one runner from 0 to the head. */
export function causewayCatchUp(
  store: EventStore,
  projections: ProjectionStore,
  events: number,
  close: () => Promise<void>,
): Contender {
  return {
    async round() {
      await projections.prepare(orderReadModel);
      await projections.reset(orderReadModel);
      const head = await store.headPosition();
      const started = performance.now();
      const runner = new ProjectionRunner({
        store,
        projections,
        projection: orderReadModel,
        batchSize: PAGE_SIZE,
        pollIntervalMs: 5,
      });
      try {
        await runner.waitForPosition(head, { timeoutMs: 600_000 });
      } finally {
        await runner.stop();
      }
      return { units: events, elapsedMs: performance.now() - started };
    },
    close,
  };
}

type Commands = {
  PlaceOrder: { payload: Omit<OrderCommand & { type: 'PlaceOrder' }, 'type'>; result: void };
  AddItem: { payload: Omit<OrderCommand & { type: 'AddItem' }, 'type'>; result: void };
};

/**
 * Commands through the command bus into the order decider; `store` was opened with the
 * order-summaries projection inline, so each append upserts its row in the same transaction.
 */
export function causewayCommands(store: EventStore, close: () => Promise<void>): Contender {
  const orders = new DeciderRepository({ store, decider: orderDecider });
  const bus = new CommandBus<Commands>();
  bus.register('PlaceOrder', async ({ payload }) => {
    await orders.handle(streamOf(payload.orderId), { type: 'PlaceOrder', ...payload });
  });
  bus.register('AddItem', async ({ payload }) => {
    await orders.handle(streamOf(payload.orderId), { type: 'AddItem', ...payload });
  });
  let next = 0;
  return {
    async round(windowMs) {
      const started = performance.now();
      const deadline = started + windowMs;
      let done = 0;
      while (performance.now() < deadline || done === 0) {
        const cmd = command(next++);
        if (cmd.type === 'PlaceOrder') {
          const { type: _type, ...payload } = cmd;
          await bus.execute('PlaceOrder', payload);
        } else {
          const { type: _type, ...payload } = cmd;
          await bus.execute('AddItem', payload);
        }
        done++;
      }
      return { units: done, elapsedMs: performance.now() - started };
    },
    close,
  };
}
