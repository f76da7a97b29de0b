import { createClient, ErrorReply } from 'redis';
import { StoreUnavailableError } from '../../core/errors.js';
import { RedisSetupError } from './redis-keys.js';

/** A node-redis v5 client as `createClient()` makes it. */
export type RedisClient = ReturnType<typeof createClient>;

const MAX_RETRY_MS = 2_000;

/**
 * Opens a client that fails fast on its first connect (a wrong URL is an error, not a hang)
 * and afterwards reconnects by itself with capped backoff. Commands fail at once while it is
 * disconnected (no offline queue): a publish must not sit in memory claiming to be on its way.
 */
export async function openClient(
  url: string,
  onError: (error: unknown) => void,
): Promise<RedisClient> {
  let connected = false;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 5_000,
      reconnectStrategy: (retries, cause) =>
        connected ? Math.min(MAX_RETRY_MS, 50 * 2 ** Math.min(retries, 6)) : cause,
    },
  });
  // Without an 'error' listener a lost connection would crash the process. A failed first
  // connect is thrown instead of reported.
  client.on('error', (error: unknown) => {
    if (connected) onError(error);
  });
  try {
    await client.connect();
  } catch (cause) {
    if (client.isOpen) client.destroy();
    throw new StoreUnavailableError(redactUrl(url), { cause });
  }
  connected = true;
  return client;
}

/** How long `closeClient` lets commands in flight finish before dropping the connection. */
export const CLOSE_GRACE_MS = 5_000;

/**
 * Closes a client, letting commands in flight get their replies, but for at most `graceMs`:
 * node-redis' `close()` waits for every pending reply, so on a connection that stays up while
 * the server stops answering (a network partition, a stalled proxy) it would never resolve.
 * After the grace period the socket is destroyed and those commands fail.
 */
export async function closeClient(
  client: RedisClient,
  graceMs: number = CLOSE_GRACE_MS,
): Promise<void> {
  if (!client.isOpen) return;
  let timer: NodeJS.Timeout | undefined;
  const graceful = await Promise.race([
    client.close().then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
  ]);
  clearTimeout(timer);
  if (graceful) return;
  // `close()` already marked the client closed, so `destroy()` fails the commands still
  // waiting and then throws ClientClosedError before it reaches the socket: unref the socket
  // so that it cannot keep the process alive until the server or the OS ends it.
  try {
    client.destroy();
  } catch {
    // Expected: see above.
  }
  client.unref();
}

/** Streams with consumer groups and `XAUTOCLAIM` need Redis 6.2. */
export async function assertServerVersion(client: RedisClient, address: string): Promise<void> {
  const info = await client.sendCommand<string>(['INFO', 'server']);
  const version = /redis_version:(\d+)\.(\d+)/.exec(info);
  const [major, minor] = version ? [Number(version[1]), Number(version[2])] : [0, 0];
  if (major < 6 || (major === 6 && minor < 2))
    throw new RedisSetupError(
      address,
      `Redis at ${address} is ${version ? `${major}.${minor}` : 'of an unknown version'}; ` +
        'the Redis transport needs 6.2 or later (XAUTOCLAIM)',
    );
}

/** Connection failures become `StoreUnavailableError`; Redis' own error replies pass through. */
export function unavailable(address: string, error: unknown): unknown {
  if (error instanceof ErrorReply) return error;
  return new StoreUnavailableError(address, { cause: error });
}

/** The URL without its password, for error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
