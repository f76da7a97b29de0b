import type { JsMsg } from '@nats-io/jetstream';

interface PendingAck {
  msg: JsMsg;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Confirms one consumer's acks a batch at a time instead of one round trip per message. The
 * acks asked for in one event-loop turn go out together: a plain `+ACK` for each but the last,
 * and the last as `ackAck` (an ack with a reply subject). The server answers an `ackAck` once
 * the consumer processed it, and it processes a consumer's acks in the order they arrived: NATS
 * keeps the order of one connection's messages to one subscriber, and every ack of a consumer
 * goes to the same subscription (`$JS.ACK.<stream>.<consumer>.>`), on one server or, in a
 * cluster, over the route to the consumer's leader. So the answer to the last one confirms the
 * whole batch, which is what `ackAck` on each message confirmed, for one round trip.
 *
 * What a confirmation means is unchanged: the consumer (its leader, in a cluster) applied the
 * ack; it says nothing of the ack having reached the consumer's replicas or its disk, and an ack
 * lost past that point (a leader change, a crash before the consumer state was written) only
 * brings the message back, as an unconfirmed one does. Without an answer (a timeout, the
 * connection gone) every ack of the batch is reported as failed, including ones the server may
 * have applied: none of them counts as settled, and what was not applied is redelivered.
 */
export class NatsAckBatch {
  #queued: PendingAck[] = [];
  readonly #confirming = new Set<Promise<void>>();

  /** `onSent` hears of each ack once it is written to the connection, before its confirmation. */
  constructor(private readonly onSent: (msg: JsMsg) => void = () => undefined) {}

  /** Sends `msg`'s ack with the next batch; resolves once JetStream confirmed the batch. */
  ack(msg: JsMsg): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // setImmediate rather than a microtask: the handlers that finished in this turn (a burst
      // of deliveries read from one socket chunk) each ask over several microtasks.
      if (this.#queued.push({ msg, resolve, reject }) === 1) setImmediate(() => this.#send());
    });
  }

  /** Resolves once every batch sent so far was confirmed or failed. */
  async drain(): Promise<void> {
    while (this.#queued.length > 0 || this.#confirming.size > 0) {
      if (this.#queued.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      await Promise.allSettled(this.#confirming);
    }
  }

  #send(): void {
    const batch = this.#queued;
    this.#queued = [];
    const last = batch.at(-1);
    if (!last) return;
    let confirmed: Promise<boolean>;
    try {
      for (let i = 0; i < batch.length - 1; i++) batch[i]!.msg.ack();
      confirmed = last.msg.ackAck();
      for (const pending of batch) this.onSent(pending.msg);
    } catch (error) {
      confirmed = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const confirming = confirmed
      .then(
        (ok) => {
          if (!ok) throw new Error('the message was already settled');
          for (const pending of batch) pending.resolve();
        },
        (error: unknown) => {
          throw error instanceof Error ? error : new Error(String(error));
        },
      )
      .catch((error: Error) => {
        const sequences = batch.map((p) => p.msg.info.streamSequence);
        for (const pending of batch)
          pending.reject(
            new Error(
              `JetStream did not confirm the acks of messages ${describeSequences(sequences)}: ${error.message}`,
              { cause: error },
            ),
          );
      })
      .finally(() => this.#confirming.delete(confirming));
    this.#confirming.add(confirming);
  }
}

function describeSequences(sequences: readonly number[]): string {
  return sequences.length <= 5
    ? sequences.join(', ')
    : `${sequences.slice(0, 5).join(', ')} and ${sequences.length - 5} more`;
}
