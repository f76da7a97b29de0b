import { describe, expect, it } from 'vitest';
import {
  AggregateRepository,
  ConcurrencyError,
  createMemoryEventStore,
  DeciderRepository,
  DomainError,
  everyNEvents,
  MemorySnapshotStore,
  type Decider,
  type DomainEvent,
} from 'causeway';
import { aggregateSpec, collect, deciderSpec } from 'causeway/testing';
import {
  Order,
  OrderCannotBeCancelled,
  OrderNotPending,
  type OrderEvent,
} from '../../examples/orders/order.js';

const created: OrderEvent = {
  type: 'OrderCreated',
  data: {
    orderId: 'o1',
    customerId: 'c1',
    items: [{ productId: 'p1', quantity: 2, unitPrice: 5 }],
    total: 10,
  },
};

describe('Order aggregate (given/when/then)', () => {
  const spec = aggregateSpec(() => new Order('o1'));

  it('creates with a computed total', () => {
    spec
      .given([])
      .when((o) => o.create('c1', [{ productId: 'p1', quantity: 2, unitPrice: 5 }]))
      .then([created]);
  });

  it('confirms only pending orders', () => {
    spec
      .given([created])
      .when((o) => o.confirm())
      .then([{ type: 'OrderConfirmed', data: { orderId: 'o1' } }]);
    spec
      .given([created, { type: 'OrderCancelled', data: { orderId: 'o1', reason: 'x' } }])
      .when((o) => o.confirm())
      .thenThrows(OrderNotPending, (error) =>
        expect(error).toMatchObject({ code: 'DOMAIN_RULE', rule: 'order.not_pending' }),
      );
  });

  it('refuses to cancel shipped, delivered or cancelled orders', () => {
    const confirmed: OrderEvent = { type: 'OrderConfirmed', data: { orderId: 'o1' } };
    const shipped: OrderEvent = {
      type: 'OrderShipped',
      data: { orderId: 'o1', trackingNumber: 't' },
    };
    const delivered: OrderEvent = { type: 'OrderDelivered', data: { orderId: 'o1' } };
    const cancelled: OrderEvent = { type: 'OrderCancelled', data: { orderId: 'o1', reason: 'r' } };
    for (const history of [
      [created, confirmed, shipped],
      [created, confirmed, shipped, delivered],
      [created, cancelled],
    ]) {
      spec
        .given(history)
        .when((o) => o.cancel('too late'))
        .thenThrows(OrderCannotBeCancelled);
    }
    spec
      .given([created, confirmed])
      .when((o) => o.cancel('changed mind'))
      .then([{ type: 'OrderCancelled', data: { orderId: 'o1', reason: 'changed mind' } }]);
  });

  it('the spec itself fails when the events differ', () => {
    expect(() =>
      spec
        .given([created])
        .when((o) => o.confirm())
        .then([]),
    ).toThrow(/Expected values to be strictly deep-equal/);
    expect(() =>
      spec
        .given([created])
        .when((o) => o.confirm())
        .thenThrows(OrderNotPending),
    ).toThrow(/Expected an error/);
  });
});

describe('AggregateRepository', () => {
  const setup = (snapshotEvery?: number) => {
    const store = createMemoryEventStore();
    const snapshots = new MemorySnapshotStore();
    const repo = new AggregateRepository<
      Order,
      OrderEvent,
      { status: Order['status']; customerId: string; total: number }
    >({
      store,
      create: (id) => new Order(id),
      streamId: Order.streamId,
      ...(snapshotEvery
        ? {
            snapshots: {
              store: snapshots,
              policy: everyNEvents(snapshotEvery),
              capture: (o) => ({ status: o.status, customerId: o.customerId, total: o.total }),
              restore: (o, s) => Object.assign(o, s),
            },
          }
        : {}),
    });
    return { store, snapshots, repo };
  };

  it('saves with the loaded version and loads the state back', async () => {
    const { store, repo } = setup();
    const order = await repo.load('o1');
    expect(order.version).toBe(0);
    order.create('c1', [{ productId: 'p1', quantity: 1, unitPrice: 3 }]);
    await repo.save(order);
    expect(order.version).toBe(1);
    expect(order.getUncommittedEvents()).toEqual([]);
    const again = await repo.load('o1');
    expect(again).toMatchObject({ status: 'pending', total: 3, version: 1 });
    expect((await collect(store.readStream('order-o1'))).map((e) => e.type)).toEqual([
      'OrderCreated',
    ]);
  });

  it('two writers from the same version: the second gets a ConcurrencyError', async () => {
    const { repo } = setup();
    await repo.update('o1', (o) => o.create('c1', [{ productId: 'p', quantity: 1, unitPrice: 1 }]));
    const a = await repo.load('o1');
    const b = await repo.load('o1');
    a.confirm();
    b.cancel('no');
    await repo.save(a);
    await expect(repo.save(b)).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it('update retries on conflict by reloading and re-running the change', async () => {
    const { repo } = setup();
    await repo.update('o1', (o) => o.create('c1', [{ productId: 'p', quantity: 1, unitPrice: 1 }]));
    let runs = 0;
    const result = await repo.update('o1', async (o) => {
      runs++;
      if (runs === 1) {
        // Someone else confirms in between our load and our save.
        await repo.update('o1', (other) => other.confirm());
      }
      if (o.status === 'pending') o.confirm();
      else o.ship('track-1');
      return o.status;
    });
    expect(runs).toBe(2);
    expect(result.result).toBe('shipped');
    expect(result.append.nextExpectedVersion).toBe(3);
  });

  it('domain errors propagate unchanged and nothing is appended', async () => {
    const { store, repo } = setup();
    await expect(repo.update('o1', (o) => o.confirm())).rejects.toBeInstanceOf(DomainError);
    expect(await store.getStream('order-o1')).toBeUndefined();
  });

  it('takes snapshots when a save crosses the policy boundary and loads from them', async () => {
    const { snapshots, repo, store } = setup(2);
    await repo.update('o1', (o) => o.create('c1', [{ productId: 'p', quantity: 1, unitPrice: 7 }]));
    expect(await snapshots.load('order-o1')).toBeUndefined();
    await repo.update('o1', (o) => o.confirm());
    expect(await snapshots.load('order-o1')).toMatchObject({
      version: 2,
      state: { status: 'confirmed', total: 7 },
    });
    // Prove the load uses the snapshot: hide the events it covers.
    await store.setStreamMetadata('order-o1', { truncateBefore: 3 });
    const loaded = await repo.load('o1');
    expect(loaded).toMatchObject({ status: 'confirmed', total: 7, version: 2 });
  });
});

type AccountEvent =
  DomainEvent<'Deposited', { amount: number }> | DomainEvent<'Withdrawn', { amount: number }>;
type AccountCommand = { type: 'deposit'; amount: number } | { type: 'withdraw'; amount: number };
class InsufficientFunds extends DomainError {
  constructor(balance: number, amount: number) {
    super('account.insufficient_funds', `Balance ${balance} is below ${amount}`, {
      balance,
      amount,
    });
  }
}
const account: Decider<{ balance: number }, AccountCommand, AccountEvent> = {
  initialState: () => ({ balance: 0 }),
  decide(command, state) {
    if (command.type === 'deposit') return { type: 'Deposited', data: { amount: command.amount } };
    if (state.balance < command.amount) throw new InsufficientFunds(state.balance, command.amount);
    return [{ type: 'Withdrawn', data: { amount: command.amount } }];
  },
  evolve(state, event) {
    return {
      balance:
        state.balance + (event.type === 'Deposited' ? event.data.amount : -event.data.amount),
    };
  },
};

describe('deciders', () => {
  it('given/when/then', () => {
    deciderSpec(account)
      .given([{ type: 'Deposited', data: { amount: 10 } }])
      .when({ type: 'withdraw', amount: 4 })
      .then([{ type: 'Withdrawn', data: { amount: 4 } }]);
    deciderSpec(account)
      .given([])
      .when({ type: 'withdraw', amount: 1 })
      .thenThrows(InsufficientFunds);
  });

  it('DeciderRepository loads, decides and appends; concurrent decisions never overdraw', async () => {
    const store = createMemoryEventStore();
    const repo = new DeciderRepository({
      store,
      decider: account,
      conflictRetry: { maxAttempts: 10 },
    });
    await repo.handle('acct-1', { type: 'deposit', amount: 10 });
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => repo.handle('acct-1', { type: 'withdraw', amount: 3 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(
      results
        .filter((r) => r.status === 'rejected')
        .map((r) => (r as PromiseRejectedResult).reason),
    ).toEqual([expect.any(InsufficientFunds), expect.any(InsufficientFunds)]);
    expect((await repo.load('acct-1')).state).toEqual({ balance: 1 });
  });
});
