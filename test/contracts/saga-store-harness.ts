import type { SagaStore } from 'causeway';

/** One backend for the saga-store contract: a fresh, empty store per test. */
export interface SagaStoreHarness {
  readonly name: string;
  create(): Promise<SagaStoreBackend>;
  cleanup(): Promise<void>;
}

export interface SagaStoreBackend {
  store: SagaStore;
  /**
   * Moves the store's notion of "now" forward by `ms`, so leases expire. A store on a
   * database clock may wait for real instead; the contract keeps these waits short.
   */
  advance(ms: number): Promise<void>;
  /** A second store over the same data, as another process would open it. */
  reopen(): Promise<SagaStore>;
  close(): Promise<void>;
}
