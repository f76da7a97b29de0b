import type { FailureInfo, Transport } from 'causeway';

/** One broker under test. The transport contract takes one of these and nothing else. */
export interface TransportHarness {
  readonly name: string;
  create(): Promise<TransportUnderTest>;
  cleanup(): Promise<void>;
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
