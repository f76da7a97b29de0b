import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JoinWindows, TopologyBuilder, Windows, type Windowed } from 'causeway';
import { TopologyTestDriver } from 'causeway/testing';

/** Records with a few keys and timestamps that mostly rise but often arrive out of order. */
const records = fc.array(
  fc.record({ key: fc.constantFrom('a', 'b', 'c'), timestamp: fc.integer({ min: 0, max: 2_000 }) }),
  { maxLength: 120 },
);

describe('windowed counts against a brute-force model', () => {
  it('emit exactly the accepted records per key and window, once, and hold only open windows', () => {
    fc.assert(
      fc.property(
        records,
        fc.constantFrom(
          Windows.tumbling({ size: 100, grace: 50 }),
          Windows.hopping({ size: 100, advance: 40, grace: 30 }),
          Windows.tumbling({ size: 70 }),
        ),
        (input, windows) => {
          const b = new TopologyBuilder({ name: 'model', deadLetters: 'late' });
          b.stream<number, string>('in')
            .groupByKey()
            .windowedBy(windows)
            .count('counts')
            .toStream()
            .to('out');
          const driver = new TopologyTestDriver(b.build());

          // The model: stream time rises with the data; a record counts in each of its windows
          // whose end + grace is still ahead of stream time; a record counted nowhere is late.
          const expected = new Map<string, number>();
          let streamTime = -Infinity;
          let late = 0;
          for (const { key, timestamp } of input) {
            streamTime = Math.max(streamTime, timestamp);
            let counted = false;
            for (const start of starts(windows, timestamp)) {
              const end = start + windows.size;
              if (end + windows.grace <= streamTime) continue;
              counted = true;
              const id = `${key}@${start}/${end}`;
              expected.set(id, (expected.get(id) ?? 0) + 1);
            }
            if (!counted) late++;
            driver.pipe('in', 1, { key, timestamp });
          }
          const closed = [...expected].filter(
            ([id]) => Number(id.split('/')[1]) + windows.grace <= streamTime,
          );

          const out = driver.read<Windowed<string>, number>('out');
          const emitted = out.map((r) => [
            `${r.key.key}@${r.key.window.start}/${r.key.window.end}`,
            r.value,
          ]);
          expect(new Map(emitted as [string, number][])).toEqual(new Map(closed));
          expect(emitted).toHaveLength(closed.length); // each window once
          expect(new Set(out.map((r) => r.id)).size).toBe(out.length);
          expect(driver.readDeadLetters()).toHaveLength(late);
          expect(driver.metrics.lateRecords).toBe(late);
          expect(driver.store('counts')?.size).toBe(expected.size - closed.length);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

function starts(windows: { kind: string; size: number; advance?: number }, t: number): number[] {
  const advance = windows.kind === 'hopping' ? (windows.advance as number) : windows.size;
  const out: number[] = [];
  for (let start = t - (t % advance); start > t - windows.size; start -= advance)
    out.unshift(start);
  return out;
}

describe('stream–stream joins against a brute-force model', () => {
  it('join every pair of on-time records within the window; left/outer add each unmatched record once, when no on-time record can match it', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.boolean(), fc.constantFrom('a', 'b'), fc.integer({ min: 0, max: 120 })),
          { maxLength: 60 },
        ),
        fc.constantFrom('join' as const, 'leftJoin' as const, 'outerJoin' as const),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 10 }),
        (input, kind, before, after, grace) => {
          const b = new TopologyBuilder({ name: 'join-model', deadLetters: 'late' });
          const left = b.stream<string, string>('left');
          left[kind](b.stream<string, string>('right'), {
            store: 'join',
            window: JoinWindows.between({ before, after, grace }),
            joiner: (l: string | undefined, r: string | undefined) => `${l ?? '-'}+${r ?? '-'}`,
          }).to('out');
          const driver = new TopologyTestDriver(b.build());

          // The model: a record is on time unless below stream time − grace; every pair of
          // on-time records (left at l, right at r) with r in [l − before, l + after] joins; an
          // unmatched one is emitted once the watermark has passed its reach.
          let streamTime = -Infinity;
          const accepted: { left: boolean; key: string; t: number; name: string }[] = [];
          input.forEach(([isLeft, key, t], i) => {
            streamTime = Math.max(streamTime, t);
            const name = `${isLeft ? 'L' : 'R'}${i}`;
            if (t >= streamTime - grace) accepted.push({ left: isLeft, key, t, name });
            driver.pipe(isLeft ? 'left' : 'right', name, { key, timestamp: t });
          });
          const matches = (l: (typeof accepted)[number], r: (typeof accepted)[number]) =>
            l.key === r.key && r.t >= l.t - before && r.t <= l.t + after;
          const lefts = accepted.filter((x) => x.left);
          const rights = accepted.filter((x) => !x.left);
          const watermark = streamTime - grace;
          const expected: string[] = [];
          for (const l of lefts) {
            for (const r of rights) if (matches(l, r)) expected.push(`${l.name}+${r.name}`);
            const unmatched = !rights.some((r) => matches(l, r)) && l.t + after < watermark;
            if (kind !== 'join' && unmatched) expected.push(`${l.name}+-`);
          }
          for (const r of rights) {
            const unmatched = !lefts.some((l) => matches(l, r)) && r.t + before < watermark;
            if (kind === 'outerJoin' && unmatched) expected.push(`-+${r.name}`);
          }
          expect(driver.readValues<string>('out').sort()).toEqual(expected.sort());
          expect(driver.readDeadLetters()).toHaveLength(input.length - accepted.length);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
