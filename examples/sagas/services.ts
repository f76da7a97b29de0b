/**
 * Stand-ins for the two external services the checkout saga calls. Like real payment and
 * inventory APIs they take an idempotency key: a repeated call with the same key returns
 * the first result and makes no second effect.
 */

export class Inventory {
  readonly #stock: Map<string, number>;
  readonly #done = new Set<string>();

  constructor(stock: Record<string, number>) {
    this.#stock = new Map(Object.entries(stock));
  }

  available(sku: string): number {
    return this.#stock.get(sku) ?? 0;
  }

  async reserve(sku: string, quantity: number, idempotencyKey: string): Promise<void> {
    if (this.#once(idempotencyKey)) this.#stock.set(sku, this.available(sku) - quantity);
  }

  async release(sku: string, quantity: number, idempotencyKey: string): Promise<void> {
    if (this.#once(idempotencyKey)) this.#stock.set(sku, this.available(sku) + quantity);
  }

  #once(key: string): boolean {
    if (this.#done.has(key)) return false;
    this.#done.add(key);
    return true;
  }
}

export type ChargeResult =
  { declined: false; paymentId: string } | { declined: true; reason: string };

export class Payments {
  /** Money actually taken (refunds subtract). */
  charges = 0;
  #flakyCalls: number;
  readonly #results = new Map<string, ChargeResult>();
  readonly #amounts = new Map<string, number>();
  /** The payment taken for each order: a refund finds it even when the charge's reply was lost. */
  readonly #byOrder = new Map<string, string>();
  readonly #refunded = new Set<string>();

  constructor(options: { flakyCalls: number }) {
    this.#flakyCalls = options.flakyCalls;
  }

  async charge(
    orderId: string,
    card: string,
    amountCents: number,
    idempotencyKey: string,
    signal: AbortSignal,
  ): Promise<ChargeResult> {
    signal.throwIfAborted();
    if (this.#flakyCalls-- > 0) throw new Error('payment gateway: 503 Service Unavailable');
    const earlier = this.#results.get(idempotencyKey);
    if (earlier) return earlier;
    const result: ChargeResult = card.endsWith('0002')
      ? { declined: true, reason: 'insufficient funds' }
      : { declined: false, paymentId: `pay-${this.#results.size + 1}` };
    this.#results.set(idempotencyKey, result);
    if (!result.declined) {
      this.charges += 1;
      this.#amounts.set(result.paymentId, amountCents);
      this.#byOrder.set(orderId, result.paymentId);
    }
    return result;
  }

  /**
   * Refunds what was charged for the order, once; nothing when nothing was charged. It looks the
   * payment up by order, not by a payment id from the saga's data: after a timed-out charge the
   * saga never saw the id, but the charge may have happened.
   */
  async refundOrder(orderId: string, idempotencyKey: string): Promise<void> {
    const paymentId = this.#byOrder.get(orderId);
    if (this.#refunded.has(idempotencyKey) || paymentId === undefined) return;
    this.#refunded.add(idempotencyKey);
    this.charges -= 1;
  }
}
