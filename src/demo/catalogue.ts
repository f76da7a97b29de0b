/**
 * The demo's shop: its products, its cards, and which orders fail by design. Both modes
 * (single-process and distributed) place the same orders, so they agree on every count.
 */
import type { OrderRequest } from './order.js';

/** Stock every inventory starts with; the sold-out product is there to fail reservations. */
export const INITIAL_STOCK: Readonly<Record<string, number>> = {
  'sku-kettle': 1_000_000,
  'sku-mug': 1_000_000,
  'sku-teapot': 1_000_000,
  'sku-sold-out': 0,
};

/** The card the payments service declines, as a real gateway's test card would be. */
export const DECLINED_CARD = '4000000000000002';
const GOOD_CARD = '4242424242424242';

export type ExpectedOutcome = 'completed' | 'out_of_stock' | 'payment_declined' | 'undeliverable';

/** No carrier delivers here: the shipment fails after the card was charged (so it is refunded). */
export const UNDELIVERABLE_COUNTRY = 'AQ';

/**
 * Order `i` (0-based): every tenth from 3 is out of stock, from 7 declined, from 9
 * undeliverable; the rest complete.
 */
export function expectedOutcome(i: number): ExpectedOutcome {
  if (i % 10 === 3) return 'out_of_stock';
  if (i % 10 === 7) return 'payment_declined';
  if (i % 10 === 9) return 'undeliverable';
  return 'completed';
}

/** The body the demo POSTs for order `i`. */
export function demoOrder(i: number): OrderRequest {
  const outcome = expectedOutcome(i);
  const skus = ['sku-kettle', 'sku-mug', 'sku-teapot'];
  const items = [
    { sku: skus[i % 3]!, quantity: 1 + (i % 4), unitPriceCents: 1_250 + (i % 5) * 100 },
    ...(outcome === 'out_of_stock'
      ? [{ sku: 'sku-sold-out', quantity: 1, unitPriceCents: 999 }]
      : []),
  ];
  return {
    customerId: `customer-${i % 17}`,
    items,
    card: outcome === 'payment_declined' ? DECLINED_CARD : GOOD_CARD,
    shipTo: {
      postcode: String(10_000 + i),
      country: outcome === 'undeliverable' ? UNDELIVERABLE_COUNTRY : 'GB',
    },
  };
}
