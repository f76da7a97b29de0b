import { describe, expect, it } from 'vitest';
import {
  DEAD_LETTER_HEADERS,
  TopologyBuilder,
  Windows,
  type EmitMode,
  type WindowSpec,
  type Windowed,
} from 'causeway';
import { TopologyTestDriver, VirtualTime } from 'causeway/testing';

const MIN = 60_000;

function countPerKey(windows: WindowSpec, emit?: EmitMode, clock?: VirtualTime) {
  const b = new TopologyBuilder({ name: 'clicks', deadLetters: 'late-clicks' });
  const grouped = b.stream<string, string>('clicks').groupByKey();
  const options = emit === undefined ? {} : { emit };
  const table =
    windows.kind === 'session'
      ? grouped.windowedBy(windows, options).count('counts')
      : grouped.windowedBy(windows, options).count('counts');
  table.toStream().to('counts');
  return new TopologyTestDriver(b.build(), clock ? { clock } : {});
}

const click = (driver: TopologyTestDriver, key: string, timestamp: number) =>
  driver.pipe('clicks', 'click', { key, timestamp });

const results = (driver: TopologyTestDriver) =>
  driver
    .read<Windowed<string>, number>('counts')
    .map((r) => `${r.key.key}[${r.key.window.start / 1000}-${r.key.window.end / 1000})=${r.value}`);

describe('tumbling windows', () => {
  it('emit each window’s final count once, when stream time passes end + grace', () => {
    const driver = countPerKey(Windows.tumbling({ size: MIN, grace: 10_000 }));
    click(driver, 'a', 1_000);
    click(driver, 'a', 59_000);
    click(driver, 'b', 30_000);
    click(driver, 'a', 65_000); // next window; [0, 60) stays open for its 10 s of grace
    expect(results(driver)).toEqual([]);
    click(driver, 'a', 55_000); // on time, within grace
    click(driver, 'b', 70_000); // stream time reaches 60 + 10: [0, 60) closes
    expect(results(driver)).toEqual(['a[0-60)=3', 'b[0-60)=1']);
    click(driver, 'a', 130_000);
    expect(results(driver)).toEqual(['a[60-120)=1', 'b[60-120)=1']);
    expect(driver.metrics.lateRecords).toBe(0);
  });

  it('emit on every update when asked, and nothing more at close', () => {
    const driver = countPerKey(Windows.tumbling({ size: MIN }), 'update');
    click(driver, 'a', 1_000);
    click(driver, 'a', 2_000);
    click(driver, 'a', 61_000);
    click(driver, 'a', 200_000);
    expect(results(driver)).toEqual(['a[0-60)=1', 'a[0-60)=2', 'a[60-120)=1', 'a[180-240)=1']);
  });

  it('send records past the grace period to the dead-letter sink with reason late, count them, and leave the closed window alone', () => {
    const driver = countPerKey(Windows.tumbling({ size: MIN, grace: 5_000 }));
    click(driver, 'a', 10_000);
    click(driver, 'a', 66_000); // closes [0, 60)
    expect(results(driver)).toEqual(['a[0-60)=1']);
    const late = click(driver, 'a', 20_000);
    click(driver, 'a', 200_000);
    expect(results(driver)).toEqual(['a[60-120)=1']); // [0, 60) was not emitted again
    const [dead, ...others] = driver.readDeadLetters();
    expect(others).toEqual([]);
    expect(dead?.value).toBe('click');
    expect(dead?.timestamp).toBe(20_000);
    expect(dead?.headers[DEAD_LETTER_HEADERS.reason]).toBe('late');
    expect(dead?.headers[DEAD_LETTER_HEADERS.operator]).toBe('counts');
    expect(dead?.headers[DEAD_LETTER_HEADERS.watermark]).toBe('61000');
    expect(dead?.position).toBe(`counts/${late.position}`);
    expect(driver.metrics.lateRecords).toBe(1);
    expect(driver.metrics.lateByOperator).toEqual({ counts: 1 });
  });

  it('do not close when only the wall clock moves: watermarks follow event time', async () => {
    const time = new VirtualTime(Date.UTC(2026, 0, 1));
    const driver = countPerKey(Windows.tumbling({ size: MIN }), undefined, time);
    click(driver, 'a', Date.UTC(2026, 0, 1));
    await driver.advanceWallClock(24 * 60 * MIN);
    expect(time.now().getTime()).toBe(Date.UTC(2026, 0, 2));
    expect(results(driver)).toEqual([]);
    expect(driver.store('counts')?.size).toBe(1);
    // A record stamped with the (moved) wall clock is event time too: now the window closes.
    driver.pipe('clicks', 'click', { key: 'a' });
    expect(results(driver)).toEqual([
      `a[${Date.UTC(2026, 0, 1) / 1000}-${Date.UTC(2026, 0, 1) / 1000 + 60})=1`,
    ]);
  });

  it('keep the store bounded: windows leave once closed, however many keys and windows pass', () => {
    const driver = countPerKey(Windows.tumbling({ size: 1_000, grace: 500 }));
    let maxSize = 0;
    for (let second = 0; second < 200; second++) {
      for (let key = 0; key < 50; key++)
        click(driver, `k${second * 50 + key}`, second * 1_000 + key);
      maxSize = Math.max(maxSize, driver.store('counts')?.size ?? 0);
    }
    // At most the current window and the previous one (in its grace period) are held.
    expect(maxSize).toBeLessThanOrEqual(100);
    expect(driver.store('counts')?.size).toBe(100);
    expect(driver.read('counts')).toHaveLength(198 * 50);
  });
});

describe('hopping windows', () => {
  it('count each record in every window that contains it, and close each on its own end + grace', () => {
    const driver = countPerKey(Windows.hopping({ size: MIN, advance: 30_000, grace: 0 }));
    click(driver, 'a', 40_000); // in [0, 60) and [30, 90)
    click(driver, 'a', 70_000); // in [30, 90) and [60, 120); closes [0, 60)
    expect(results(driver)).toEqual(['a[0-60)=1']);
    click(driver, 'a', 125_000); // closes [30, 90) and [60, 120)
    expect(results(driver)).toEqual(['a[30-90)=2', 'a[60-120)=1']);
    expect(driver.store('counts')?.size).toBe(2); // [90, 150) and [120, 180)
  });

  it('a record late for every window it belongs to is dead-lettered', () => {
    const driver = countPerKey(Windows.hopping({ size: 20_000, advance: 10_000, grace: 0 }));
    click(driver, 'a', 100_000);
    click(driver, 'a', 75_000); // windows [60, 80) and [70, 90): both closed
    click(driver, 'a', 95_000); // [80, 100) closed, [90, 110) open: counted there only
    expect(driver.readDeadLetters().map((r) => r.timestamp)).toEqual([75_000]);
    click(driver, 'a', 200_000);
    expect(results(driver)).toEqual(['a[90-110)=2', 'a[100-120)=1']);
  });
});

describe('session windows', () => {
  it('group records less than gap apart, merge sessions a record bridges, and emit each once on close', () => {
    const driver = countPerKey(Windows.session({ gap: 10_000, grace: 20_000 }));
    click(driver, 'a', 0);
    click(driver, 'a', 5_000);
    click(driver, 'a', 30_000); // new session: [0, 5] is 25 s behind
    click(driver, 'a', 22_000); // within 10 s of 30: joins that session
    click(driver, 'a', 14_000); // within 10 s of 5 and of 22: bridges both sessions into one
    click(driver, 'b', 59_000); // stream time 59 < 30 + gap + grace: still open
    expect(results(driver)).toEqual([]);
    click(driver, 'b', 60_000); // a's session closes
    expect(results(driver)).toEqual(['a[0-30)=5']);
    expect(driver.store('counts')?.size).toBe(1);
  });

  it('sessions in update mode emit the merged session after each record', () => {
    const driver = countPerKey(Windows.session({ gap: 10_000 }), 'update');
    click(driver, 'a', 0);
    click(driver, 'a', 5_000);
    expect(results(driver)).toEqual(['a[0-0)=1', 'a[0-5)=2']);
  });

  it('a record below the watermark is late; sessions of other keys are unaffected', () => {
    const driver = countPerKey(Windows.session({ gap: 5_000, grace: 10_000 }));
    click(driver, 'a', 10_000);
    click(driver, 'b', 20_000);
    click(driver, 'a', 13_000); // 13 ≥ 20 - 10: on time, and within gap of 10: same session
    click(driver, 'a', 8_000); // 8 < 20 - 10: late
    expect(driver.readDeadLetters().map((r) => r.timestamp)).toEqual([8_000]);
    click(driver, 'b', 40_000);
    expect(results(driver)).toEqual(['a[10-13)=2', 'b[20-20)=1']);
    expect(driver.metrics.lateRecords).toBe(1);
  });

  it('aggregate merges session values with the given merge function', () => {
    const b = new TopologyBuilder({ name: 'carts', deadLetters: 'late' });
    b.stream<number, string>('items')
      .groupByKey()
      .windowedBy(Windows.session({ gap: 100, grace: 200 }))
      .aggregate(
        'cart-total',
        () => 0,
        (sum, n) => sum + n,
        (x, y) => x + y,
      )
      .toStream()
      .to('totals');
    const driver = new TopologyTestDriver(b.build());
    driver.pipe('items', 1, { key: 'u', timestamp: 0 });
    driver.pipe('items', 2, { key: 'u', timestamp: 150 });
    driver.pipe('items', 4, { key: 'u', timestamp: 80 }); // bridges [0] and [150]
    driver.pipe('items', 0, { key: 'v', timestamp: 1_000 });
    expect(driver.readValues('totals')).toEqual([7]);
  });
});
