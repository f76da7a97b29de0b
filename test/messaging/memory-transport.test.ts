import { createTransport, MemoryTransportDriver } from 'causeway';
import { transportContract } from '../contracts/transport.contract.js';

let counter = 0;

transportContract({
  name: 'memory',
  async create() {
    const driver = new MemoryTransportDriver();
    const transport = createTransport(driver);
    return {
      transport,
      destination: () => `dest-${++counter}`,
      publishPoison: async (destination, body) =>
        driver.publishRaw(destination, [{ headers: { 'content-type': 'application/json' }, body }]),
      deadLetters: async (destination) =>
        driver.deadLetters
          .filter((l) => l.destination === destination)
          .map((l) => ({ body: l.message.body, failure: l.failure })),
      close: () => transport.close(),
    };
  },
  async cleanup() {},
});
