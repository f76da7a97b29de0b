import { describe, expect, it } from 'vitest';
import { defineProjection, ProjectionFailedError } from 'causeway';
import { projectionSpec } from 'causeway/testing';
import { orderReadModel, orderViews } from '../../examples/orders/read-model.js';

const t0 = new Date('2026-02-01T09:00:00Z');

describe('projectionSpec (given events, then read-model rows)', () => {
  it('builds the enriched order view', async () => {
    await projectionSpec(orderReadModel)
      .given([
        {
          streamId: 'customer-c1',
          type: 'CustomerRegistered',
          data: { customerId: 'c1', name: 'Grace' },
        },
        {
          streamId: 'product-p1',
          type: 'ProductCatalogued',
          data: { productId: 'p1', name: 'Compiler' },
        },
        {
          streamId: 'order-o1',
          type: 'OrderCreated',
          time: t0,
          data: {
            orderId: 'o1',
            customerId: 'c1',
            items: [{ productId: 'p1', quantity: 2, unitPrice: 10 }],
            total: 20,
          },
        },
        {
          streamId: 'order-o1',
          type: 'OrderConfirmed',
          time: new Date(t0.getTime() + 60_000),
          data: { orderId: 'o1' },
        },
      ])
      .then(orderViews, [
        {
          id: 'o1',
          customer_name: 'Grace',
          status: 'confirmed',
          total: 20,
          items: [{ productId: 'p1', name: 'Compiler', quantity: 2, unitPrice: 10 }],
          created_at: t0,
          updated_at: new Date(t0.getTime() + 60_000),
        },
      ]);
  });

  it('fails with a readable diff when the rows differ, and surfaces handler errors', async () => {
    const spec = projectionSpec(orderReadModel).given([
      {
        streamId: 'order-o2',
        type: 'OrderCreated',
        data: { orderId: 'o2', customerId: 'nobody', items: [], total: 0 },
      },
    ]);
    await expect(spec.then(orderViews, [{ id: 'o2', status: 'confirmed' }])).rejects.toThrow(
      /strictly deep-equal/,
    );
    await expect(
      spec.then(orderViews, [
        { id: 'o2', status: 'pending', customer_name: '(unknown customer nobody)' },
      ]),
    ).resolves.toBeUndefined();
  });

  it('surfaces a handler error instead of comparing rows', async () => {
    const broken = defineProjection({
      name: 'broken',
      tables: [orderViews],
      handlers: {
        OrderCreated: () => {
          throw new Error('bug in handler');
        },
      },
    });
    await expect(
      projectionSpec(broken)
        .given([{ streamId: 'o', type: 'OrderCreated', data: {} }])
        .then(orderViews, []),
    ).rejects.toBeInstanceOf(ProjectionFailedError);
  });
});
