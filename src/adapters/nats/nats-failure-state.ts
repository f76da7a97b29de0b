import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { ensureStream, type DestinationNames } from './nats-topology.js';

/** What JetStream does not carry across redeliveries, kept per (group, stream sequence). */
export interface FailureRecord {
  /** When the message first failed; `nak` has no payload to carry it. */
  firstFailureAt: string | undefined;
  /** Deliveries given back unstarted (shutdown): JetStream counts them, attempts must not. */
  releases: number;
}

const EMPTY: FailureRecord = { firstFailureAt: undefined, releases: 0 };

/**
 * A small last-value store beside each destination's stream (what a KV bucket is underneath:
 * one subject per key, one message kept per subject). Only failures and releases write to it,
 * and only redeliveries read it, so a message handled on its first try never touches it.
 */
export class NatsFailureState {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly names: DestinationNames,
  ) {}

  static async open(
    jsm: JetStreamManager,
    js: JetStreamClient,
    main: DestinationNames,
    maxAgeMs: number,
  ): Promise<NatsFailureState> {
    const names = {
      stream: `${main.stream}_state`,
      subject: `${main.subject.replace(/^[^.]+/, (p) => `${p}-state`)}.>`,
    };
    await ensureStream(jsm, names, {
      max_msgs_per_subject: 1,
      // Records of messages that were settled elsewhere (or whose consumer is gone) expire.
      max_age: maxAgeMs * 1_000_000,
    });
    return new NatsFailureState(jsm, js, names);
  }

  async read(group: string, sequence: number): Promise<FailureRecord> {
    const stored = await this.jsm.streams.getMessage(this.names.stream, {
      last_by_subj: this.#subject(group, sequence),
    });
    return stored ? stored.json<FailureRecord>() : EMPTY;
  }

  async write(group: string, sequence: number, record: FailureRecord): Promise<void> {
    await this.js.publish(this.#subject(group, sequence), JSON.stringify(record));
  }

  async clear(group: string, sequence: number): Promise<void> {
    await this.jsm.streams.purge(this.names.stream, { filter: this.#subject(group, sequence) });
  }

  #subject(group: string, sequence: number): string {
    return `${this.names.subject.slice(0, -2)}.${group}.${sequence}`;
  }
}
