/**
 * The `Order` aggregate of the order example, in the class style users know from the
 * playbook: commands are methods that check invariants, events change state in `when`.
 */
import { Aggregate, DomainError, type DomainEvent } from 'causeway';

export type OrderStatus = 'pending' | 'confirmed' | 'shipped' | 'delivered' | 'cancelled';

export interface OrderItem {
  productId: string;
  quantity: number;
  unitPrice: number;
}

export type OrderEvent =
  | DomainEvent<
      'OrderCreated',
      { orderId: string; customerId: string; items: OrderItem[]; total: number }
    >
  | DomainEvent<'OrderConfirmed', { orderId: string }>
  | DomainEvent<'OrderShipped', { orderId: string; trackingNumber: string }>
  | DomainEvent<'OrderDelivered', { orderId: string }>
  | DomainEvent<'OrderCancelled', { orderId: string; reason: string }>;

export class OrderNotPending extends DomainError {
  constructor(orderId: string, status: OrderStatus | 'new') {
    super(
      'order.not_pending',
      `Order ${orderId} is ${status}; only pending orders can be confirmed.`,
      { orderId, status },
    );
  }
}

export class OrderCannotBeCancelled extends DomainError {
  constructor(orderId: string, status: OrderStatus | 'new') {
    super('order.cannot_cancel', `Order ${orderId} is ${status} and can no longer be cancelled.`, {
      orderId,
      status,
    });
  }
}

export class InvalidOrder extends DomainError {
  constructor(orderId: string, reason: string) {
    super('order.invalid', `Order ${orderId} is invalid: ${reason}`, { orderId });
  }
}

export class Order extends Aggregate<OrderEvent> {
  status: OrderStatus | 'new' = 'new';
  customerId = '';
  items: OrderItem[] = [];
  total = 0;

  static streamId(orderId: string): string {
    return `order-${orderId}`;
  }

  create(customerId: string, items: OrderItem[]): void {
    if (this.status !== 'new') throw new InvalidOrder(this.id, 'it already exists');
    if (items.length === 0) throw new InvalidOrder(this.id, 'it has no items');
    const total =
      Math.round(items.reduce((sum, i) => sum + i.quantity * i.unitPrice, 0) * 100) / 100;
    this.apply({ type: 'OrderCreated', data: { orderId: this.id, customerId, items, total } });
  }

  confirm(): void {
    if (this.status !== 'pending') throw new OrderNotPending(this.id, this.status);
    this.apply({ type: 'OrderConfirmed', data: { orderId: this.id } });
  }

  ship(trackingNumber: string): void {
    if (this.status !== 'confirmed')
      throw new InvalidOrder(this.id, `cannot ship an order that is ${this.status}`);
    this.apply({ type: 'OrderShipped', data: { orderId: this.id, trackingNumber } });
  }

  cancel(reason: string): void {
    if (
      this.status === 'new' ||
      this.status === 'shipped' ||
      this.status === 'delivered' ||
      this.status === 'cancelled'
    ) {
      throw new OrderCannotBeCancelled(this.id, this.status);
    }
    this.apply({ type: 'OrderCancelled', data: { orderId: this.id, reason } });
  }

  protected when(event: OrderEvent): void {
    switch (event.type) {
      case 'OrderCreated':
        this.status = 'pending';
        this.customerId = event.data.customerId;
        this.items = event.data.items;
        this.total = event.data.total;
        return;
      case 'OrderConfirmed':
        this.status = 'confirmed';
        return;
      case 'OrderShipped':
        this.status = 'shipped';
        return;
      case 'OrderDelivered':
        this.status = 'delivered';
        return;
      case 'OrderCancelled':
        this.status = 'cancelled';
        return;
    }
  }
}
