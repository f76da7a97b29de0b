import type { Message, ProcessStore } from 'causeway';

/** One backend for the timer-store contract and the process-manager suite: fresh data per test. */
export interface ProcessStoreHarness {
  readonly name: string;
  create(): Promise<ProcessStoreBackend>;
  cleanup(): Promise<void>;
}

export interface ProcessStoreBackend {
  store: ProcessStore;
  /** A second store over the same data, as another process (or a restart) would open it. */
  reopen(): Promise<ProcessStore>;
  /** Every message committed to the outbox so far, per destination, in write order. */
  outbox(): Promise<{ destination: string; message: Message }[]>;
  close(): Promise<void>;
}
