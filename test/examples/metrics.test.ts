import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { startMetricsExample } from '../../examples/metrics/main.js';

it('the metrics example serves the consumer counters and the store gauges over HTTP', async () => {
  const { server, close } = await startMetricsExample();
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const lines = (await response.text()).split('\n');
    for (const line of [
      'causeway_messages_handled_total{destination="orders",group="billing"} 2',
      'causeway_messages_failed_total{destination="orders",group="billing"} 1',
      'causeway_messages_dead_lettered_total{destination="orders",group="billing",reason="permanent_error"} 1',
      'causeway_handler_duration_seconds_count{destination="orders",group="billing",outcome="acked"} 2',
      'causeway_dead_letters{destination="orders"} 1',
      'causeway_outbox_pending{destination="emails"} 1',
    ])
      expect(lines).toContain(line);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  } finally {
    await close();
  }
});
