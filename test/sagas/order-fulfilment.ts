import { defineProcessManager, toMessage, type Message, type ProcessManagerConfig } from 'causeway';

/** The example: if no PaymentReceived within 30 minutes, cancel the order. */
export const PAYMENT_TIMEOUT_MS = 30 * 60_000;

export interface FulfilmentState {
  status: 'awaiting_payment' | 'paid' | 'cancelled';
  amount: number;
  /** Payments seen; a payment applied twice would show here. */
  payments: number;
}

interface OrderData {
  orderId: string;
  amount?: number;
}

const orderId = (message: { data: unknown }) => (message.data as OrderData).orderId;

/** The configuration, for fixtures that vary one handler (a crash test's hanging timer). */
export const fulfilmentConfig: ProcessManagerConfig<FulfilmentState> = {
  name: 'fulfilment',
  correlate: { OrderPlaced: orderId, PaymentReceived: orderId },
  initialState: { status: 'awaiting_payment', amount: 0, payments: 0 },
  startedBy: ['OrderPlaced'],
  handlers: {
    OrderPlaced: (state, message, ctx) => {
      ctx.schedule('payment-timeout', { in: PAYMENT_TIMEOUT_MS }, { orderId: ctx.key });
      return { ...state, amount: (message.data as OrderData).amount ?? 0 };
    },
    PaymentReceived: (state, _message, ctx) => {
      ctx.cancel('payment-timeout');
      ctx.emit('shipping', { type: 'ShipOrder', data: { orderId: ctx.key } });
      ctx.complete();
      return { ...state, status: 'paid', payments: state.payments + 1 };
    },
  },
  timers: {
    'payment-timeout': (state, timer, ctx) => {
      ctx.emit('orders', {
        type: 'CancelOrder',
        data: { orderId: ctx.key, reason: 'payment-timeout', payload: timer.payload },
      });
      ctx.complete();
      return { ...state, status: 'cancelled' };
    },
  },
};

export const fulfilment = defineProcessManager(fulfilmentConfig);

export function orderPlaced(id: string, amount = 100): Message {
  return toMessage({ type: 'OrderPlaced', data: { orderId: id, amount } });
}

export function paymentReceived(id: string): Message {
  return toMessage({ type: 'PaymentReceived', data: { orderId: id } });
}
