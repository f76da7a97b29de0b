import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  authorization,
  CommandBus,
  createMemoryEventStore,
  HandlerAlreadyRegisteredError,
  HandlerFailedError,
  idempotency,
  logging,
  MemoryIdempotencyStore,
  NoHandlerError,
  QueryBus,
  tracing,
  UnauthorizedError,
  validation,
  ValidationError,
} from 'causeway';
import { collect } from 'causeway/testing';

type Commands = {
  PlaceOrder: { payload: { customerId: string; amount: number }; result: { orderId: string } };
  Explode: { payload: Record<string, never>; result: void };
};
type Queries = { CountOrders: { payload: { customerId: string }; result: number } };

function setup() {
  const store = createMemoryEventStore();
  const bus = new CommandBus<Commands>();
  let placed = 0;
  bus.register('PlaceOrder', async (command) => {
    placed++;
    const orderId = `o-${placed}`;
    await store.appendToStream(`order-${orderId}`, [
      { type: 'OrderPlaced', data: command.payload },
    ]);
    return { orderId };
  });
  bus.register('Explode', () => {
    throw new TypeError('kaboom');
  });
  return { store, bus, placedCount: () => placed };
}

describe('CommandBus', () => {
  it('infers result types and runs the one registered handler', async () => {
    const { bus } = setup();
    const result = await bus.execute('PlaceOrder', { customerId: 'c1', amount: 5 });
    const id: string = result.orderId;
    expect(id).toBe('o-1');
  });

  it('refuses a second handler for the same type and unknown types', async () => {
    const { bus } = setup();
    expect(() => bus.register('PlaceOrder', () => ({ orderId: 'x' }))).toThrow(
      HandlerAlreadyRegisteredError,
    );
    await expect(
      (bus as unknown as CommandBus<Record<string, { payload: unknown; result: unknown }>>).execute(
        'Nope',
        {},
      ),
    ).rejects.toBeInstanceOf(NoHandlerError);
  });

  it('wraps unexpected handler errors with the command type and id', async () => {
    const { bus } = setup();
    const error = await bus.execute('Explode', {}, { id: 'cmd-42' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandlerFailedError);
    expect(error).toMatchObject({
      code: 'HANDLER_FAILED',
      messageType: 'Explode',
      messageId: 'cmd-42',
    });
    expect((error as Error).cause).toBeInstanceOf(TypeError);
  });

  it('stamps userId, correlationId and causationId (the command id) on every event produced', async () => {
    const { bus, store } = setup();
    await bus.execute(
      'PlaceOrder',
      { customerId: 'c1', amount: 5 },
      {
        id: 'cmd-1',
        correlationId: 'corr-9',
        caller: { userId: 'u-7' },
        metadata: { tenant: 't1' },
      },
    );
    await bus.execute('PlaceOrder', { customerId: 'c2', amount: 1 }, { id: 'cmd-2' });
    const [first, second] = await collect(store.readAll());
    expect(first).toMatchObject({
      causationid: 'cmd-1',
      correlationid: 'corr-9',
      metadata: { userId: 'u-7', tenant: 't1' },
    });
    // Without a correlation id, the command starts a new flow: correlation = its own id.
    expect(second).toMatchObject({ causationid: 'cmd-2', correlationid: 'cmd-2', metadata: {} });
  });

  it('validates payloads with field paths before the handler runs', async () => {
    const { bus, placedCount } = setup();
    bus.use(
      validation({
        PlaceOrder: z.object({ customerId: z.string().min(1), amount: z.number().positive() }),
      }),
    );
    const error = await bus
      .execute('PlaceOrder', { customerId: '', amount: -1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual([
      ['payload', 'customerId'],
      ['payload', 'amount'],
    ]);
    expect(placedCount()).toBe(0);
  });

  it('asks the authorization hook with the caller', async () => {
    const { bus, placedCount } = setup();
    bus.use(
      authorization(({ caller }) =>
        caller.roles?.includes('sales') ? true : 'needs the sales role',
      ),
    );
    await expect(
      bus.execute(
        'PlaceOrder',
        { customerId: 'c', amount: 1 },
        { caller: { userId: 'u', roles: [] } },
      ),
    ).rejects.toThrow(UnauthorizedError);
    await bus.execute(
      'PlaceOrder',
      { customerId: 'c', amount: 1 },
      { caller: { userId: 'u', roles: ['sales'] } },
    );
    expect(placedCount()).toBe(1);
  });

  it('idempotency: a replayed command id returns the first result and runs nothing', async () => {
    const { bus, placedCount, store } = setup();
    bus.use(idempotency(new MemoryIdempotencyStore()));
    const first = await bus.execute('PlaceOrder', { customerId: 'c', amount: 1 }, { id: 'same' });
    const [again, concurrent1, concurrent2] = await Promise.all([
      bus.execute('PlaceOrder', { customerId: 'c', amount: 1 }, { id: 'same' }),
      bus.execute('PlaceOrder', { customerId: 'c', amount: 1 }, { id: 'other' }),
      bus.execute('PlaceOrder', { customerId: 'c', amount: 1 }, { id: 'other' }),
    ]);
    expect(again).toEqual(first);
    expect(concurrent1).toEqual(concurrent2);
    expect(placedCount()).toBe(2);
    expect(await collect(store.readAll())).toHaveLength(2);
  });

  it('logs and traces in middleware order', async () => {
    const { bus, store } = setup();
    const lines: string[] = [];
    const spans: string[] = [];
    bus.use(
      logging({
        info: (m, f) => lines.push(`${m} ${String(f?.['type'])}`),
        error: (m, f) => lines.push(`${m} ${String(f?.['code'])}`),
      }),
      tracing((ctx) => {
        spans.push(`start ${ctx.message.type}`);
        return {
          traceparent: '00-11111111111111111111111111111111-2222222222222222-01',
          end: (e) => spans.push(e ? 'end error' : 'end ok'),
        };
      }),
    );
    await bus.execute('PlaceOrder', { customerId: 'c', amount: 1 });
    await bus.execute('Explode', {}).catch(() => undefined);
    expect(lines).toEqual(['command handled PlaceOrder', 'command failed HANDLER_FAILED']);
    expect(spans).toEqual(['start PlaceOrder', 'end ok', 'start Explode', 'end error']);
    expect((await collect(store.readAll()))[0]?.traceparent).toBe(
      '00-11111111111111111111111111111111-2222222222222222-01',
    );
  });
});

describe('QueryBus', () => {
  it('answers typed queries through the same pipeline', async () => {
    const queries = new QueryBus<Queries>();
    queries.use(validation({ CountOrders: z.object({ customerId: z.string() }) }));
    queries.register('CountOrders', ({ payload }) => (payload.customerId === 'c1' ? 2 : 0));
    const count: number = await queries.ask('CountOrders', { customerId: 'c1' });
    expect(count).toBe(2);
    await expect(
      queries.ask('CountOrders', { customerId: 3 as unknown as string }),
    ).rejects.toMatchObject({
      code: 'VALIDATION',
      issues: [{ path: ['payload', 'customerId'] }],
    });
  });
});
