import { createClient } from 'redis';
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
 * Redis Streams contestants: one stream per destination, `XADD` awaited for Redis' reply (in
 * memory, and on disk as the server's persistence says: recorded in the settings), one
 * consumer group per destination read with a blocking `XREADGROUP` on a connection of its own,
 * `XACK` after each message. The raw side is node-redis doing exactly that, with the same
 * CloudEvents fields (`ce-` attributes, `content-type`, `data`).
 */

export function redisUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['CAUSEWAY_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
}

export async function redisSettings(url: string): Promise<Record<string, string>> {
  const client = await createClient({ url, socket: { reconnectStrategy: false } }).connect();
  try {
    const info = await client.info('server');
    const [appendonly, appendfsync] = await Promise.all([
      client.configGet('appendonly'),
      client.configGet('appendfsync'),
    ]);
    return {
      'redis.server': `redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'}`,
      'redis.persistence': `appendonly ${appendonly['appendonly']}, appendfsync ${appendfsync['appendfsync']} (a publish is confirmed once Redis replied)`,
    };
  } finally {
    await client.close();
  }
}

/** The stream entry Causeway writes: CloudEvents attributes as `ce-` fields, then `data`. */
function fields(body: Payload): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(cloudEventHeaders('ce-'))) out.push(name, value);
  out.push('content-type', 'application/json', 'data', JSON.stringify(body));
  return out;
}

type ReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

export function redisBaseline(url: string): TransportEntrant {
  return {
    label: 'node-redis XADD / XREADGROUP',
    open: async () => {
      const prefix = uniqueName('bench-raw');
      const [publishStream, e2eStream] = [`${prefix}:publish`, `${prefix}:e2e`];
      const client = await createClient({ url }).connect();
      const reader = await client.duplicate().connect();
      for (const stream of [publishStream, e2eStream])
        await client.sendCommand(['XGROUP', 'CREATE', stream, 'bench', '0', 'MKSTREAM']);
      const publishAll = (stream: string, bodies: readonly Payload[]) =>
        Promise.all(bodies.map((b) => client.sendCommand(['XADD', stream, '*', ...fields(b)])));
      const tally = new Tally();
      let stopping = false;
      const consuming = (async () => {
        while (!stopping) {
          const reply = await reader
            .sendCommand<ReadReply>([
              'XREADGROUP',
              'GROUP',
              'bench',
              'raw',
              'COUNT',
              String(PREFETCH),
              'BLOCK',
              '200',
              'STREAMS',
              e2eStream,
              '>',
            ])
            .catch(() => null);
          const entries = reply?.[0]?.[1] ?? [];
          await Promise.all(
            entries.map(([id, entry]) => {
              tally.receive(JSON.parse(entry[entry.indexOf('data') + 1]!) as Payload);
              return client.sendCommand(['XACK', e2eStream, 'bench', id]);
            }),
          );
        }
      })();
      return {
        publishOne: async (i) => void (await publishAll(publishStream, [payload(i)])),
        publishBatch: async (i, size) =>
          void (await publishAll(publishStream, payloads(i * BATCH_SIZE, size))),
        endToEnd: (count) =>
          endToEndRound(tally, count, async (bodies) => void (await publishAll(e2eStream, bodies))),
        close: async () => {
          stopping = true;
          await consuming;
          await client.del([publishStream, e2eStream]);
          await Promise.all([reader.close(), client.close()]);
        },
      };
    },
  };
}

export const redisCauseway = (url: string): Promise<TransportEntrant> =>
  adapterEntrant<{ url: string; prefix: string }>('redis', 'RedisTransportDriver', (driver) => {
    const prefix = uniqueName('bench-cw');
    return causewayDeletingDestinations(() => driver.connect({ url, prefix }));
  });
