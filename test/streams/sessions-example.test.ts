import { expect, it } from 'vitest';
import { runSessionsExample } from '../../examples/streams/sessions.js';

it('the sessions example emits each session once when it closes, merges bridged sessions and dead-letters the late view', () => {
  const lines: string[] = [];
  runSessionsExample((line) => lines.push(line));
  expect(lines).toEqual([
    'linus 00:10–00:10: 1 view (/docs)',
    'ada 00:00–00:20: 2 views (/ /pricing)',
    'linus 00:50–01:25: 3 views (/docs/streams /blog /docs/joins)',
    'ada 01:40–01:40: 1 view (/signup)',
    'late views: 1',
  ]);
});
