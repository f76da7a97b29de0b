/**
 * A live stream processor over the event store: counts the items in each cart as they are
 * added, and appends every new count as an event. Run: `npx tsx examples/streams/live-carts.ts`.
 */
import { pathToFileURL } from 'node:url';
// #region snippet
import {
  createMemoryEventStore,
  EventStoreSink,
  EventStoreSource,
  StreamRuntime,
  StreamTask,
  TopologyBuilder,
  type RecordedEvent,
} from 'causeway';

export async function runLiveCartsExample(log: (line: string) => void = console.log) {
  const store = createMemoryEventStore();
  const builder = new TopologyBuilder({ name: 'cart-sizes', deadLetters: 'cart-sizes-late' });
  builder
    .stream<{ sku: string }, string>('cart-events') // keyed by stream id
    .groupByKey()
    .count('items-per-cart')
    .toStream()
    .to('cart-sizes');

  const task = new StreamTask({
    runtime: new StreamRuntime(builder.build()), // in-memory state
    sources: [
      new EventStoreSource({
        name: 'cart-events',
        store,
        filter: { types: ['ItemAdded'], streamPrefix: 'cart-' },
      }),
    ],
    // Event id = output id: an output written again after a crash is not stored twice.
    sinks: [new EventStoreSink({ name: 'cart-sizes', store, stream: 'sizes', type: 'CartSized' })],
  });
  const stop = new AbortController();
  const running = task.run(stop.signal); // catch up, then follow new appends

  const sized: RecordedEvent[] = [];
  let threeSized!: () => void;
  const three = new Promise<void>((resolve) => (threeSized = resolve));
  const reader = store.subscribe(
    'print-sizes',
    (event) => {
      if (sized.push(event) === 3) threeSized();
    },
    { filter: { streamPrefix: 'sizes' } },
  );
  await store.appendToStream('cart-1', [
    { type: 'ItemAdded', data: { sku: 'tea' } },
    { type: 'ItemAdded', data: { sku: 'mug' } },
  ]);
  await store.appendToStream('cart-2', [{ type: 'ItemAdded', data: { sku: 'tea' } }]);
  await three; // the three counts, appended by the sink

  stop.abort();
  log(`records processed: ${await running}`); // resolves after the final commit
  await reader.stop();
  for (const event of sized) log(`${String(event.metadata['key'])}: ${String(event.data)}`);
}
// #endregion

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runLiveCartsExample();
