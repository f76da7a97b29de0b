/**
 * The order example, end to end: commands → aggregate → events → async projection → queries.
 *
 *   node --conditions=source --import tsx examples/orders/main.ts            # in memory
 *   node --conditions=source --import tsx examples/orders/main.ts ./orders.db  # a new SQLite file
 *   node --conditions=source --import tsx examples/orders/main.ts postgres://postgres:postgres@127.0.0.1:5432/causeway
 *                                                    # PostgreSQL, schema orders_example (made anew)
 *
 * With a database, the read model can then be rebuilt from the log by the CLI, which loads the
 * projection's code from causeway.config.ts:
 *
 *   causeway projections rebuild order-read-model --config examples/orders/causeway.config.ts --db ./orders.db
 */
import { pathToFileURL } from 'node:url';
import { isDomainError, isValidationError, ProjectionRunner } from 'causeway';
import { createOrderService } from './app.js';
import { openBackend, type Backend } from './backend.js';
import { orderReadModel } from './read-model.js';

export async function runOrderExample(
  backend: Backend,
  log: (line: string) => void = console.log,
): Promise<void> {
  const { store, projections } = backend;
  const { commands, queries } = createOrderService(store, projections);
  const runner = new ProjectionRunner({ store, projections, projection: orderReadModel });
  try {
    await commands.execute('RegisterCustomer', { customerId: 'c-1', name: 'Ada Lovelace' });
    await commands.execute('CatalogueProduct', {
      productId: 'p-1',
      name: 'Analytical Engine manual',
    });
    await commands.execute('CatalogueProduct', {
      productId: 'p-2',
      name: 'Punch cards (box of 100)',
    });
    log('registered 1 customer and 2 products');

    const caller = { caller: { userId: 'clerk-7' }, correlationId: 'checkout-42' };
    await commands.execute(
      'CreateOrder',
      {
        orderId: 'o-1',
        customerId: 'c-1',
        items: [{ productId: 'p-1', quantity: 1, unitPrice: 25 }],
      },
      caller,
    );
    await commands.execute(
      'CreateOrder',
      {
        orderId: 'o-2',
        customerId: 'c-1',
        items: [
          { productId: 'p-2', quantity: 3, unitPrice: 4.5 },
          { productId: 'p-1', quantity: 1, unitPrice: 25 },
        ],
      },
      caller,
    );
    await commands.execute('CreateOrder', {
      orderId: 'o-3',
      customerId: 'c-1',
      items: [{ productId: 'p-2', quantity: 1, unitPrice: 4.5 }],
    });
    await commands.execute('ConfirmOrder', { orderId: 'o-1' });
    await commands.execute('CancelOrder', {
      orderId: 'o-3',
      reason: 'customer changed their mind',
    });
    log('created 3 orders, confirmed o-1, cancelled o-3');

    try {
      await commands.execute('ConfirmOrder', { orderId: 'o-3' });
    } catch (error) {
      if (!isDomainError(error)) throw error;
      log(`refused: ${error.message} (rule ${error.rule})`);
    }
    try {
      await commands.execute('CreateOrder', { orderId: 'o-4', customerId: 'c-1', items: [] });
    } catch (error) {
      if (!isValidationError(error)) throw error;
      log(`rejected: ${error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }

    await runner.waitForPosition(await store.headPosition());
    const order = await queries.ask('GetOrder', { orderId: 'o-2' });
    log(
      `GetOrder o-2 → ${order?.customer_name}, ${order?.status}, total ${order?.total}, items: ${order?.items.map((i) => `${i.quantity}× ${i.name}`).join(', ')}`,
    );
    for (const status of ['pending', 'confirmed', 'cancelled']) {
      const list = await queries.ask('ListOrdersByStatus', { status });
      log(`ListOrdersByStatus ${status} → ${list.map((o) => o.id).join(', ') || '(none)'}`);
    }
    for await (const event of store.readStream('order-o-1')) {
      log(
        `order-o-1 v${event.streamVersion} ${event.type} correlation=${event.correlationid} causation=${event.causationid?.slice(0, 8)}… user=${String(event.metadata['userId'] ?? '-')}`,
      );
    }
  } finally {
    await runner.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const backend = await openBackend(process.argv[2]);
    try {
      await runOrderExample(backend);
    } finally {
      await backend.close();
    }
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
