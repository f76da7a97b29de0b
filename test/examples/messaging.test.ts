import { expect, it } from 'vitest';
import { runMessagingExample } from '../../examples/messaging/main.js';

it('the messaging example retries, dead-letters and replays', async () => {
  const lines: string[] = [];
  await runMessagingExample((line) => lines.push(line));
  expect(lines).toEqual([
    'dead-lettered: permanent_error — no label template for express',
    'replayed 1/1',
    expect.stringMatching(
      /^shipped: (o-1, o-2 \(attempt 2\), o-3|o-2 \(attempt 2\), o-1, o-3|o-1, o-3, o-2 \(attempt 2\))$/,
    ),
  ]);
});
