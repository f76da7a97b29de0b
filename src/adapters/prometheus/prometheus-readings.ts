import type { Gauge } from 'prom-client';

/**
 * One watched store's reading, shared by every gauge scraped in the same pass: prom-client
 * collects a registry's metrics concurrently, so the outbox's pending and oldest-age gauges
 * start their collects in one tick and both get the single query in flight. A failed read
 * is reported once and reads as `undefined` (its series are left out of that scrape rather
 * than failing the whole `/metrics` response).
 */
export class Reading<T> {
  #inFlight: Promise<T | undefined> | undefined;

  constructor(
    readonly source: string,
    private readonly read: () => Promise<T>,
    private readonly failed: (source: string, error: unknown) => void,
  ) {}

  take(): Promise<T | undefined> {
    this.#inFlight ??= this.read()
      .then(
        (value) => value,
        (error: unknown) => {
          this.failed(this.source, error);
          return undefined;
        },
      )
      .finally(() => {
        this.#inFlight = undefined;
      });
    return this.#inFlight;
  }
}

/**
 * Sets `gauge` from every reading at scrape time (`fill` gets the ones that could be read). The gauge is reset after the reads (not
 * before: a concurrent scrape must not see it half-filled), so series whose source vanished
 * disappear instead of repeating their last value forever.
 */
export async function collectReadings<T, L extends string>(
  gauge: Gauge<L>,
  readings: ReadonlySet<Reading<T>>,
  fill: (gauge: Gauge<L>, values: readonly T[]) => void,
): Promise<void> {
  const values = await Promise.all([...readings].map((reading) => reading.take()));
  gauge.reset();
  fill(
    gauge,
    values.filter((value) => value !== undefined),
  );
}
