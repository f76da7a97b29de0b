import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTransport, MemoryTransportDriver } from 'causeway';
import { openSqliteDatabase } from 'causeway/sqlite';
import { auditLedgers } from '../../src/demo/audit.js';
import { CommandClient, serveCommands } from '../../src/demo/rpc.js';
import { commandRegistry } from '../../src/demo/schemas.js';
import { DESTINATIONS, startService } from '../../src/demo/services.js';
import { sqliteSql, type DemoSql } from '../../src/demo/sql.js';

/**
 * The demo's compensations run for steps whose outcome is uncertain (a reserve or a charge
 * that timed out): they must undo only what happened, once, and a command that arrives after
 * its compensation must not take effect.
 */
describe('demo services: compensations without a prior effect', () => {
  let sql: DemoSql;
  let transport: ReturnType<typeof createTransport>;
  let client: CommandClient;
  let calls = 0;
  const items = [{ sku: 'sku-mug', quantity: 3, unitPriceCents: 1_200 }];
  const send = (
    service: 'inventory' | 'payments' | 'shipping',
    type: string,
    data: object,
    key: string,
  ) =>
    client.call(DESTINATIONS[service], type, data as Record<string, unknown>, {
      idempotencyKey: key,
      signal: new AbortController().signal,
    });
  const mugs = async () =>
    Number(
      (
        await sql.all<{ available: number }>(
          "SELECT available FROM demo_stock WHERE sku = 'sku-mug'",
        )
      )[0]?.available,
    );

  beforeEach(async () => {
    sql = sqliteSql(openSqliteDatabase(':memory:'));
    transport = createTransport(new MemoryTransportDriver());
    await startService('inventory', sql, transport);
    await startService('payments', sql, transport);
    await startService('shipping', sql, transport);
    client = new CommandClient(transport, `demo-replies-${++calls}`);
    await client.start('orders');
  });
  afterEach(async () => {
    await client.stop();
    await transport.close();
    await sql.close();
  });

  it('ReleaseStock without a successful reserve gives nothing back, and the late reserve is refused', async () => {
    const before = await mugs();
    expect(
      await send('inventory', 'ReleaseStock', { orderId: 'o-1', items }, 'o-1:release'),
    ).toEqual({ ok: true, reason: 'nothing was reserved' });
    expect(await mugs()).toBe(before); // the old handler added 3 mugs that were never taken
    // The reserve that timed out was still queued: it arrives after its release.
    expect(
      await send('inventory', 'ReserveStock', { orderId: 'o-1', items }, 'o-1:reserve'),
    ).toEqual({
      ok: false,
      reason: 'already released: the order was given up',
    });
    expect(await mugs()).toBe(before);
  });

  it('ReleaseStock gives back what a successful reserve took, once, whatever the number of releases', async () => {
    const before = await mugs();
    expect(
      await send('inventory', 'ReserveStock', { orderId: 'o-2', items }, 'o-2:reserve'),
    ).toEqual({
      ok: true,
    });
    expect(await mugs()).toBe(before - 3);
    expect(
      await send('inventory', 'ReleaseStock', { orderId: 'o-2', items }, 'o-2:release'),
    ).toEqual({ ok: true });
    // The same key again (a retried compensation) and another key (a second compensation).
    await send('inventory', 'ReleaseStock', { orderId: 'o-2', items }, 'o-2:release');
    expect(
      await send('inventory', 'ReleaseStock', { orderId: 'o-2', items }, 'o-2:release:2'),
    ).toEqual({ ok: true, reason: 'already released' });
    expect(await mugs()).toBe(before);
  });

  it('RefundPayment without a charge refunds nothing, and the late charge is refused', async () => {
    expect(await send('payments', 'RefundPayment', { orderId: 'o-3' }, 'o-3:refund')).toEqual({
      ok: true,
      reason: 'nothing was charged',
    });
    const charge = { orderId: 'o-3', card: '4242424242424242', amountCents: 3_600 };
    expect(await send('payments', 'ChargePayment', charge, 'o-3:charge')).toEqual({
      ok: false,
      reason: 'already refunded: the order was given up',
    });
    expect(await auditLedgers(sql)).toMatchObject({ charges: 0, refunds: 0 });
  });

  it('RefundPayment refunds an actual charge once, whatever the number of refunds', async () => {
    const charge = { orderId: 'o-4', card: '4242424242424242', amountCents: 3_600 };
    expect(await send('payments', 'ChargePayment', charge, 'o-4:charge')).toMatchObject({
      ok: true,
    });
    expect(await send('payments', 'RefundPayment', { orderId: 'o-4' }, 'o-4:refund')).toEqual({
      ok: true,
    });
    expect(await send('payments', 'RefundPayment', { orderId: 'o-4' }, 'o-4:refund:2')).toEqual({
      ok: true,
      reason: 'already refunded',
    });
    expect(await auditLedgers(sql)).toMatchObject({ charges: 1, refunds: 1 });
  });

  it('CancelShipment without a shipment cancels nothing, and the late shipment is refused; a real one is cancelled once', async () => {
    expect(await send('shipping', 'CancelShipment', { orderId: 'o-6' }, 'o-6:cancel')).toEqual({
      ok: true,
      reason: 'nothing was shipped',
    });
    const shipment = { orderId: 'o-6', country: 'PT' };
    expect(await send('shipping', 'CreateShipment', shipment, 'o-6:ship')).toEqual({
      ok: false,
      reason: 'already cancelled: the order was given up',
    });
    expect(await auditLedgers(sql)).toMatchObject({ shipments: 0 });

    const other = { orderId: 'o-7', country: 'PT' };
    expect(await send('shipping', 'CreateShipment', other, 'o-7:ship')).toMatchObject({ ok: true });
    expect(await send('shipping', 'CancelShipment', { orderId: 'o-7' }, 'o-7:cancel')).toEqual({
      ok: true,
    });
    expect(await send('shipping', 'CancelShipment', { orderId: 'o-7' }, 'o-7:cancel:2')).toEqual({
      ok: true,
      reason: 'already cancelled',
    });
  });

  it('two overlapping calls with one key both wait for the reply; the first ending does not drop the second', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let received!: () => void;
    const arrived = new Promise<void>((resolve) => (received = resolve));
    await serveCommands(
      transport,
      'demo-slow',
      {
        ReserveStock: async () => {
          received();
          await held;
          return { ok: true, result: { answer: 'late' } };
        },
      },
      { registry: commandRegistry },
    );
    const data = { orderId: 'o-5', items };
    const abandoned = new AbortController();
    const first = client.call('demo-slow', 'ReserveStock', data, {
      idempotencyKey: 'o-5:reserve',
      signal: abandoned.signal,
    });
    await arrived;
    // The saga's retry of the same step while the first attempt still waits.
    const second = client.call('demo-slow', 'ReserveStock', data, {
      idempotencyKey: 'o-5:reserve',
      signal: new AbortController().signal,
    });
    abandoned.abort(new Error('attempt timed out'));
    await expect(first).rejects.toThrow('attempt timed out');
    release();
    await expect(second).resolves.toEqual({ ok: true, result: { answer: 'late' } });
  });
});
