/**
 * The demo's `Order` aggregate: created by `CreateOrder`, then confirmed by the fulfilment
 * saga or cancelled by its compensation. Its events travel through the outbox to every
 * service that listens on the order-events destination.
 */
import { Aggregate, type DomainEvent } from '../domain/aggregate.js';
import { DomainError } from '../core/errors.js';

export interface OrderLine {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

/** What `POST /orders` accepts (validated before it gets here). */
export interface OrderRequest {
  customerId: string;
  items: OrderLine[];
  /** The card number the payments service charges; some cards are declined by design. */
  card: string;
  shipTo: { postcode: string; country: string };
}

export interface OrderCreatedData extends OrderRequest {
  orderId: string;
  totalCents: number;
}

export type OrderEvent =
  | DomainEvent<'OrderCreated', OrderCreatedData>
  | DomainEvent<'OrderConfirmed', { orderId: string; trackingNumber: string }>
  | DomainEvent<'OrderCancelled', { orderId: string; reason: string }>;

export type OrderStatus = 'new' | 'pending' | 'confirmed' | 'cancelled';

/** A command that does not fit the order's state: a bug in the flow, never retried. */
export class OrderStateError extends DomainError {
  constructor(orderId: string, status: OrderStatus, action: string) {
    super('order.state', `Order ${orderId} is ${status}; cannot ${action}.`, { orderId, status });
  }
}

export class Order extends Aggregate<OrderEvent> {
  status: OrderStatus = 'new';

  static streamId(orderId: string): string {
    return `order-${orderId}`;
  }

  create(request: OrderRequest): void {
    if (this.status !== 'new') throw new OrderStateError(this.id, this.status, 'create it');
    const totalCents = request.items.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0);
    this.apply({ type: 'OrderCreated', data: { orderId: this.id, ...request, totalCents } });
  }

  /** Idempotent: a saga step re-run after a crash confirms an already confirmed order. */
  confirm(trackingNumber: string): void {
    if (this.status === 'confirmed') return;
    if (this.status !== 'pending') throw new OrderStateError(this.id, this.status, 'confirm it');
    this.apply({ type: 'OrderConfirmed', data: { orderId: this.id, trackingNumber } });
  }

  /** Idempotent, like `confirm`: compensation may run more than once. */
  cancel(reason: string): void {
    if (this.status === 'cancelled') return;
    if (this.status !== 'pending') throw new OrderStateError(this.id, this.status, 'cancel it');
    this.apply({ type: 'OrderCancelled', data: { orderId: this.id, reason } });
  }

  protected when(event: OrderEvent): void {
    if (event.type === 'OrderCreated') this.status = 'pending';
    else if (event.type === 'OrderConfirmed') this.status = 'confirmed';
    else this.status = 'cancelled';
  }
}
