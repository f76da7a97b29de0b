import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  StorageType,
  type JetStreamClient,
} from '@nats-io/jetstream';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { adapterEntrant, causewayDeletingDestinations } from './causeway-side.js';
import {
  BATCH_SIZE,
  cloudEventHeaders,
  endToEndRound,
  payload,
  payloads,
  PREFETCH,
  Tally,
  uniqueName,
  type Payload,
  type TransportEntrant,
} from './workload.js';

/**
 * NATS JetStream contestants: one file-storage stream per destination (the server's defaults
 * otherwise), publishes awaited for their JetStream ack, one durable pull consumer with
 * explicit acks per group. The raw side is `@nats-io/jetstream` as documented:
 * `js.publish` (with the same CloudEvents headers and the message id as `Nats-Msg-Id`) and
 * `consumer.consume()` with `m.ack()`.
 */

export function natsUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['CAUSEWAY_NATS_URL'] ?? 'nats://127.0.0.1:4222';
}

export async function natsSettings(url: string): Promise<Record<string, string>> {
  const nc = await connect({ servers: url });
  try {
    await jetstreamManager(nc); // throws when JetStream is off
    return {
      'nats.server': `nats-server ${nc.info?.version ?? 'unknown'}`,
      'nats.topology':
        'per side: one file-storage stream per destination, one durable pull consumer (explicit ack) per group',
    };
  } finally {
    await nc.close();
  }
}

/** Publishes with the CloudEvents headers and the id as `Nats-Msg-Id` (de-duplication), as Causeway does. */
async function publishAll(js: JetStreamClient, subject: string, bodies: readonly Payload[]) {
  await Promise.all(
    bodies.map((body) => {
      const headers = natsHeaders();
      for (const [name, value] of Object.entries(cloudEventHeaders('ce-')))
        headers.set(name, value);
      headers.set('content-type', 'application/json');
      return js.publish(subject, JSON.stringify(body), { headers, msgID: headers.get('ce-id') });
    }),
  );
}

export function natsBaseline(url: string): TransportEntrant {
  return {
    label: '@nats-io/jetstream publish',
    open: async () => {
      const prefix = uniqueName('bench_raw').replace('-', '_');
      const nc = await connect({ servers: url, noAsyncTraces: true });
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const streams = [`${prefix}_publish`, `${prefix}_e2e`];
      for (const stream of streams)
        await jsm.streams.add({
          name: stream,
          subjects: [`${stream}.messages`],
          storage: StorageType.File,
        });
      const [publishStream, e2eStream] = streams as [string, string];
      await jsm.consumers.add(e2eStream, {
        durable_name: 'bench',
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
      });
      const tally = new Tally();
      const decoder = new TextDecoder();
      const consumer = await js.consumers.get(e2eStream, 'bench');
      const messages = await consumer.consume({ max_messages: PREFETCH });
      const consuming = (async () => {
        for await (const m of messages) {
          tally.receive(JSON.parse(decoder.decode(m.data)) as Payload);
          m.ack();
        }
      })();
      return {
        publishOne: (i) => publishAll(js, `${publishStream}.messages`, [payload(i)]),
        publishBatch: (i, size) =>
          publishAll(js, `${publishStream}.messages`, payloads(i * BATCH_SIZE, size)),
        endToEnd: (count) =>
          endToEndRound(tally, count, (bodies) => publishAll(js, `${e2eStream}.messages`, bodies)),
        close: async () => {
          await messages.close();
          await consuming;
          for (const stream of streams) await jsm.streams.delete(stream);
          await nc.close();
        },
      };
    },
  };
}

export const natsCauseway = (url: string): Promise<TransportEntrant> =>
  adapterEntrant<{ servers: string; prefix: string }>('nats', 'NatsTransportDriver', (driver) => {
    const prefix = uniqueName('bench_cw').replace('-', '_');
    return causewayDeletingDestinations(() => driver.connect({ servers: url, prefix }));
  });
