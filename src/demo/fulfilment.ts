/**
 * The orders service's write side: the command bus in front of the `Order` aggregate, and
 * the orchestrated fulfilment saga — reserve inventory → charge payment → create shipment →
 * confirm order. A refused step (out of stock, card declined) compensates what was done, in
 * reverse: payment refunded, inventory released, and last the order cancelled.
 */
import { CommandBus } from '../cqrs/bus.js';
import { AggregateRepository } from '../domain/aggregate-repository.js';
import type { EventStore } from '../event-store/event-store.js';
import { defineSaga, type SagaDefinition, type SagaStepContext } from '../sagas/definition.js';
import { Order, type OrderCreatedData, type OrderRequest } from './order.js';
import type { CommandClient } from './rpc.js';
import { DESTINATIONS } from './services.js';

export type OrderCommands = {
  CreateOrder: { payload: { orderId: string; request: OrderRequest }; result: void };
  ConfirmOrder: { payload: { orderId: string; trackingNumber: string }; result: void };
  CancelOrder: { payload: { orderId: string; reason: string }; result: void };
};

/** Commands → aggregate → events (the store's outbox option publishes them). */
export function orderCommandBus(store: EventStore): CommandBus<OrderCommands> {
  const orders = new AggregateRepository<Order>({
    store,
    create: (id) => new Order(id),
    streamId: Order.streamId,
  });
  const bus = new CommandBus<OrderCommands>();
  bus.register('CreateOrder', async ({ payload }) => {
    await orders.update(payload.orderId, (order) => order.create(payload.request));
  });
  bus.register('ConfirmOrder', async ({ payload }) => {
    await orders.update(payload.orderId, (order) => order.confirm(payload.trackingNumber));
  });
  bus.register('CancelOrder', async ({ payload }) => {
    await orders.update(payload.orderId, (order) => order.cancel(payload.reason));
  });
  return bus;
}

export interface FulfilmentData extends OrderCreatedData {
  correlationId?: string;
  paymentId?: string;
  trackingNumber?: string;
}

export interface FulfilmentOptions {
  /** How long a step waits for its service's reply before the attempt counts as failed. */
  stepTimeoutMs?: number;
  /** Attempts per step; a re-run publishes the same command with the same key. */
  maxAttempts?: number;
}

export const FULFILMENT = 'order-fulfilment';

/** The saga id of an order: starting twice (a redelivered OrderCreated) starts once. */
export function fulfilmentId(orderId: string): string {
  return `fulfilment-${orderId}`;
}

export function fulfilmentSaga(
  commands: CommandBus<OrderCommands>,
  client: CommandClient,
  options: FulfilmentOptions = {},
): SagaDefinition<FulfilmentData> {
  const call = (ctx: SagaStepContext<FulfilmentData>) => ({
    idempotencyKey: ctx.idempotencyKey,
    signal: ctx.signal,
    ...(ctx.data.correlationId !== undefined && { correlationId: ctx.data.correlationId }),
  });
  const stock = (ctx: SagaStepContext<FulfilmentData>) => ({
    orderId: ctx.data.orderId,
    items: ctx.data.items,
  });
  return defineSaga<FulfilmentData>({
    name: FULFILMENT,
    defaults: {
      timeoutMs: options.stepTimeoutMs ?? 5_000,
      retry: { maxAttempts: options.maxAttempts ?? 8, initialDelayMs: 50, maxDelayMs: 1_000 },
      compensationRetry: { maxAttempts: 20, initialDelayMs: 50, maxDelayMs: 1_000 },
    },
    steps: [
      {
        // Nothing to do going forward; undone last, it cancels the order with the reason.
        name: 'accept-order',
        execute: () => undefined,
        compensate: ({ data, failure }) =>
          commands.execute('CancelOrder', {
            orderId: data.orderId,
            reason: failure?.message ?? 'aborted by an operator',
          }),
      },
      {
        name: 'reserve-inventory',
        execute: async (ctx) => {
          await client.require(DESTINATIONS.inventory, 'ReserveStock', stock(ctx), call(ctx));
        },
        compensate: async (ctx) => {
          await client.require(DESTINATIONS.inventory, 'ReleaseStock', stock(ctx), call(ctx));
        },
      },
      {
        name: 'charge-payment',
        execute: async (ctx) => {
          const { orderId, card, totalCents } = ctx.data;
          const { paymentId } = await client.require(
            DESTINATIONS.payments,
            'ChargePayment',
            { orderId, card, amountCents: totalCents },
            call(ctx),
          );
          return paymentId === undefined ? {} : { paymentId };
        },
        compensate: async (ctx) => {
          await client.require(
            DESTINATIONS.payments,
            'RefundPayment',
            { orderId: ctx.data.orderId },
            call(ctx),
          );
        },
      },
      {
        name: 'create-shipment',
        execute: async (ctx) => {
          const { trackingNumber } = await client.require(
            DESTINATIONS.shipping,
            'CreateShipment',
            { orderId: ctx.data.orderId, country: ctx.data.shipTo.country },
            call(ctx),
          );
          return trackingNumber === undefined ? {} : { trackingNumber };
        },
        // Runs when confirming fails, or when the shipment timed out and may still be created.
        compensate: async (ctx) => {
          await client.require(
            DESTINATIONS.shipping,
            'CancelShipment',
            { orderId: ctx.data.orderId },
            call(ctx),
          );
        },
      },
      {
        name: 'confirm-order',
        execute: ({ data }) =>
          commands.execute('ConfirmOrder', {
            orderId: data.orderId,
            trackingNumber: data.trackingNumber ?? 'unknown',
          }),
      },
    ],
  });
}
