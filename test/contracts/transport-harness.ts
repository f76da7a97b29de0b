import type { FailureInfo, Transport } from 'causeway';

/** Options a harness module's `createHarness` takes; JSON, so they can cross a process boundary. */
export type HarnessOptions = Readonly<Record<string, string | number | boolean>>;

/**
 * What a harness module (`test/adapters/fixtures/<broker>-transport-harness.ts`) exports: a
 * child process imports the module and calls this with the parent's `worker.options`, and its
 * `create()` then reaches the same queues as the parent's (same schema, file, prefix).
 */
export type HarnessFactory = (options?: HarnessOptions) => TransportHarness;

/**
 * One broker under test. The transport contract takes one of these and nothing else. The
 * crash capabilities are optional: a broker without one skips that case, and the skip names
 * the limitation (`limitations`), so a missing capability is never a silent pass.
 */
export interface TransportHarness {
  readonly name: string;
  create(): Promise<TransportUnderTest>;
  cleanup(): Promise<void>;
  /**
   * How a child process builds this harness again: the module exporting `createHarness` (an
   * absolute path) and the options that make its transports share this harness's queues.
   * Enables the kill -9 case (see `test/contracts/transport-worker.ts`).
   */
  readonly worker?: { readonly module: string; readonly options: HarnessOptions };
  /**
   * Makes the broker go away and come back while transports stay open. Resolves once it is
   * reachable again. Enables the broker-restart case.
   */
  restartBroker?(): Promise<void>;
  /** What `restartBroker` really does, when it is not a full restart; shown in the test name. */
  readonly restartKind?: string;
  /** Why a crash case cannot run on this broker, in words that name the limitation. */
  readonly limitations?: { readonly processKill?: string; readonly brokerRestart?: string };
}

export interface TransportUnderTest {
  transport: Transport;
  /** A fresh destination name, so tests never see each other's messages. */
  destination(): string;
  /** Publishes bytes that are not a valid CloudEvent (poison), the way a foreign producer would. */
  publishPoison(destination: string, body: string): Promise<void>;
  /** The dead letters of a destination, oldest first. */
  deadLetters(destination: string): Promise<{ body: string; failure: FailureInfo }[]>;
  close(): Promise<void>;
}
