import WebSocket from 'ws';
import { adapterEntrant, causewayDeletingDestinations, type BenchNames } from './causeway-side.js';
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
 * Apache Pulsar contestants, both over the broker's WebSocket API (the one Causeway's driver
 * uses, so the ratio measures Causeway and not a different protocol): one persistent topic per
 * destination, a producer awaiting every send receipt (batching off, so a receipt names one
 * stored message), a durable `Key_Shared` subscription in pull mode with 16 permits, the
 * message acked after its handler and a permit given back. The raw side is `ws` speaking the
 * documented JSON frames, with the same `ce_` properties and the id as the message key.
 */

const NAMESPACE = 'public/default';

export function pulsarUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env['CAUSEWAY_PULSAR_URL'] ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
}

async function admin(url: string, method: string, path: string, body?: string) {
  const response = await fetch(`${url}/admin/v2/${path}`, {
    method,
    ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok && response.status !== 404 && response.status !== 409)
    throw new Error(`Pulsar admin ${method} ${path}: HTTP ${response.status}`);
  return response;
}

export async function pulsarSettings(url: string): Promise<Record<string, string>> {
  const version = await (await admin(url, 'GET', 'brokers/version')).text();
  return {
    'pulsar.server': `pulsar ${version} (standalone), WebSocket API at ${url.replace(/^http/, 'ws')}/ws/v2`,
    'pulsar.topology': `per side: persistent topics in ${NAMESPACE}, one Key_Shared subscription per group (pull mode, 16 permits), producers with batching off`,
  };
}

const topicPath = (topic: string) => `persistent/${NAMESPACE}/${encodeURIComponent(topic)}`;

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** A raw producer: one JSON frame per message, resolved by the receipt echoing its context. */
async function rawProducer(wsBase: string, topic: string) {
  const ws = await open(
    `${wsBase}/producer/${topicPath(topic)}?batchingEnabled=false&sendTimeoutMillis=30000`,
  );
  const pending = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  ws.on('message', (data) => {
    const receipt = JSON.parse(String(data)) as { result: string; context?: string };
    const waiter = pending.get(receipt.context ?? '');
    if (!waiter) return;
    pending.delete(receipt.context!);
    if (receipt.result === 'ok') waiter.resolve();
    else waiter.reject(new Error(`Pulsar refused a message: ${receipt.result}`));
  });
  let counter = 0;
  const sendOne = (body: Payload) =>
    new Promise<void>((resolve, reject) => {
      const context = String(++counter);
      const properties: Record<string, string> = {
        ...cloudEventHeaders('ce_'),
        'content-type': 'application/json',
      };
      pending.set(context, { resolve, reject });
      ws.send(
        JSON.stringify({
          payload: Buffer.from(JSON.stringify(body)).toString('base64'),
          properties,
          context,
          key: properties['ce_id'],
        }),
      );
    });
  return {
    send: async (bodies: readonly Payload[]) => void (await Promise.all(bodies.map(sendOne))),
    close: () => ws.close(),
  };
}

export function pulsarBaseline(url: string): TransportEntrant {
  const wsBase = `${url.replace(/^http/, 'ws')}/ws/v2`;
  return {
    label: 'ws, Pulsar WebSocket API',
    open: async () => {
      const prefix = uniqueName('bench-raw');
      const [publishTopic, e2eTopic] = [`${prefix}.publish`, `${prefix}.e2e`];
      // Subscriptions from the earliest message, created before the first publish (as the
      // Causeway side's groups are), so every message is stored for one group.
      const earliest = JSON.stringify({ ledgerId: -1, entryId: -1, partitionIndex: -1 });
      for (const topic of [publishTopic, e2eTopic])
        await admin(url, 'PUT', `${topicPath(topic)}/subscription/bench`, earliest);
      const [publisher, e2ePublisher] = await Promise.all([
        rawProducer(wsBase, publishTopic),
        rawProducer(wsBase, e2eTopic),
      ]);
      const consumer = await open(
        `${wsBase}/consumer/${topicPath(e2eTopic)}/bench?subscriptionType=Key_Shared&pullMode=true&receiverQueueSize=${PREFETCH}`,
      );
      const tally = new Tally();
      consumer.on('message', (data) => {
        const m = JSON.parse(String(data)) as { messageId?: string; payload?: string };
        if (m.messageId === undefined || m.payload === undefined) return;
        tally.receive(JSON.parse(Buffer.from(m.payload, 'base64').toString('utf8')) as Payload);
        consumer.send(JSON.stringify({ messageId: m.messageId }));
        consumer.send(JSON.stringify({ type: 'permit', permitMessages: 1 }));
      });
      consumer.send(JSON.stringify({ type: 'permit', permitMessages: PREFETCH }));
      return {
        publishOne: (i) => publisher.send([payload(i)]),
        publishBatch: (i, size) => publisher.send(payloads(i * BATCH_SIZE, size)),
        endToEnd: (count) => endToEndRound(tally, count, (bodies) => e2ePublisher.send(bodies)),
        close: async () => {
          for (const ws of [publisher, e2ePublisher, consumer]) ws.close();
          for (const topic of [publishTopic, e2eTopic])
            await admin(url, 'DELETE', `${topicPath(topic)}?force=true`);
        },
      };
    },
  };
}

export const pulsarCauseway = (url: string): Promise<TransportEntrant> =>
  adapterEntrant<{ url: string }>('pulsar', 'PulsarTransportDriver', (driver) => {
    // The driver has no name prefix: unique destinations keep helpers sharing the broker apart.
    const prefix = uniqueName('bench-cw');
    const names: BenchNames = {
      publish: `${prefix}.publish`,
      endToEnd: `${prefix}.e2e`,
      group: 'bench',
    };
    return causewayDeletingDestinations(() => driver.connect({ url }), names);
  });
