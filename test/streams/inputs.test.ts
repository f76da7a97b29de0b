import { expect, it } from 'vitest';
import { createMemoryEventStore, TopologyBuilder, Windows, type Windowed } from 'causeway';
import { TopologyTestDriver } from 'causeway/testing';

it('stored events enter keyed by stream id, at their global position, on their envelope time', async () => {
  const events = createMemoryEventStore();
  const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
  await events.appendToStream('cart-1', [
    { type: 'ItemAdded', data: { sku: 'a' }, time: at(1) },
    { type: 'ItemAdded', data: { sku: 'b' }, time: at(20) },
  ]);
  await events.appendToStream('cart-2', [{ type: 'ItemAdded', data: { sku: 'c' }, time: at(30) }]);
  await events.appendToStream('cart-1', [{ type: 'ItemAdded', data: { sku: 'd' }, time: at(95) }]);

  const b = new TopologyBuilder({ name: 'carts', deadLetters: 'late' });
  b.stream<{ sku: string }, string>('cart-events')
    .groupByKey()
    .windowedBy(Windows.tumbling({ size: 60_000 }))
    .count('items-per-cart-minute')
    .toStream()
    .to('items');
  const driver = new TopologyTestDriver(b.build());
  for await (const event of events.readAll()) driver.pipeEvent('cart-events', event);

  const out = driver.read<Windowed<string>, number>('items');
  expect(out.map((r) => [r.key.key, r.key.window.start - Date.UTC(2026, 0, 1), r.value])).toEqual([
    ['cart-1', 0, 2],
    ['cart-2', 0, 1],
  ]);
  const positions = driver.backend.committedPositions();
  const last = await events.readAllPage(0, 100);
  expect(positions.get('cart-events')).toBe(`cart-events:${last.events.at(-1)?.globalPosition}`);
});
