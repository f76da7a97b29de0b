/**
 * Memory sampling inside the timed loops: every contestant calls `sample()` once per
 * `SAMPLE_EVERY + 1` records (one branch per record, the same on both sides), which the
 * memory probe uses to track the peak heap while a pass runs; timed rounds pass a no-op.
 */
export type Sampler = () => void;

/** A mask: `(i & SAMPLE_EVERY) === 0` holds every 16 384 records. */
export const SAMPLE_EVERY = 16_383;

export const noSample: Sampler = () => undefined;
