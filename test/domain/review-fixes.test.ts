import { describe, expect, it } from 'vitest';
import {
  CommandBus,
  createMemoryEventStore,
  DeciderRepository,
  defineProjection,
  defineTable,
  everyNEvents,
  ManualClock,
  MemorySnapshotStore,
  MemoryProjectionStore,
  ProjectionRunner,
  serializeJson,
  type Decider,
  type DomainEvent,
} from 'causeway';
import { collect } from 'causeway/testing';

type Ev = DomainEvent<'Added', { n: number }>;
const counter: Decider<{ total: number }, { n: number }, Ev> = {
  initialState: () => ({ total: 0 }),
  decide: (c) => ({ type: 'Added', data: { n: c.n } }),
  evolve: (s, e) => ({ total: s.total + e.data.n }),
};

describe('loading streams whose events are all hidden', () => {
  it('appends with the real stream version instead of conflicting forever', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const store = createMemoryEventStore({ clock });
    const repo = new DeciderRepository({ store, decider: counter, clock });
    await repo.handle('c-1', { n: 1 });
    await store.setStreamMetadata('c-1', { maxAge: 1_000 });
    clock.advance(5_000);
    const decision = await repo.handle('c-1', { n: 2 });
    expect(decision.append.nextExpectedVersion).toBe(2);
    expect((await collect(store.readStream('c-1'))).map((e) => e.data)).toEqual([{ n: 2 }]);
  });
});

describe('snapshots older than the readable events', () => {
  it('are ignored instead of silently skipping the hidden events in between', async () => {
    const store = createMemoryEventStore();
    const snapshots = new MemorySnapshotStore();
    const repo = new DeciderRepository({
      store,
      decider: counter,
      snapshots: { store: snapshots, policy: everyNEvents(100) },
    });
    for (const n of [5, 5, 1, 1]) await repo.handle('c-2', { n });
    await snapshots.save({
      streamId: 'c-2',
      version: 2,
      state: { total: 10 },
      stateVersion: 1,
      createdAt: new Date(),
    });
    // Version 3 is hidden now: the snapshot at 2 plus version 4 would be a state that never was.
    await store.setStreamMetadata('c-2', { truncateBefore: 4 });
    const loaded = await repo.load('c-2');
    expect(loaded).toMatchObject({ state: { total: 1 }, version: 4, snapshotVersion: undefined });
  });
});

describe('nested commands', () => {
  it('continue the outer flow: same correlation, caused by the outer command, same user', async () => {
    const store = createMemoryEventStore();
    const bus = new CommandBus<{
      Outer: { payload: null; result: void };
      Inner: { payload: null; result: void };
    }>();
    bus.register('Inner', async () => {
      await store.appendToStream('s', [{ type: 'InnerDone', data: {} }]);
    });
    bus.register('Outer', async () => {
      await bus.execute('Inner', null);
    });
    await bus.execute('Outer', null, {
      id: 'outer-1',
      correlationId: 'flow-9',
      caller: { userId: 'u-1' },
    });
    const [event] = await collect(store.readAll());
    expect(event).toMatchObject({ correlationid: 'flow-9', metadata: { userId: 'u-1' } });
    expect(event?.causationid).not.toBe('outer-1'); // caused by Inner, whose cause is Outer
  });
});

describe('serializeJson', () => {
  it('refuses Map, Set and class instances instead of storing {}', () => {
    expect(() => serializeJson({ skus: new Set(['a']) }, 'data')).toThrow(/skus is a Set/);
    expect(() => serializeJson({ qty: new Map([['a', 1]]) }, 'data')).toThrow(/qty is a Map/);
    class Money {
      constructor(readonly cents: number) {}
    }
    expect(() => serializeJson({ price: new Money(5) }, 'data')).toThrow(/price is a Money/);
    class WithJson {
      toJSON() {
        return 'ok';
      }
    }
    expect(serializeJson({ v: new WithJson() }, 'data')).toBe('{"v":"ok"}');
  });
});

describe('projection runners', () => {
  const table = defineTable<{ id: string; n: number }>({
    name: 'tally',
    primaryKey: 'id',
    columns: { id: 'text', n: 'integer' },
  });

  it('refuse inline projections, which appends already update', () => {
    const inline = defineProjection({
      name: 'inl',
      mode: 'inline',
      tables: [table],
      handlers: { A: () => undefined },
    });
    expect(
      () =>
        new ProjectionRunner({
          store: createMemoryEventStore(),
          projections: new MemoryProjectionStore(),
          projection: inline,
        }),
    ).toThrow(/applied twice|no runner/);
  });

  it('let timers run while catching up on a synchronous store', async () => {
    const store = createMemoryEventStore();
    for (let i = 0; i < 40; i++)
      await store.appendToStream(
        `s-${i}`,
        Array.from({ length: 100 }, () => ({ type: 'A', data: {} })),
      );
    const projection = defineProjection({
      name: 'tally',
      tables: [table],
      handlers: {
        A: async (event, session) => {
          const row = await session.table(table).findById(event.streamId);
          await session.table(table).upsert({ id: event.streamId, n: (row?.n ?? 0) + 1 });
        },
      },
    });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const runner = new ProjectionRunner({
      store,
      projections: new MemoryProjectionStore(),
      projection,
      batchSize: 50,
    });
    await runner.waitForPosition(await store.headPosition());
    clearInterval(timer);
    await runner.stop();
    expect(ticks).toBeGreaterThan(0);
  });
});
