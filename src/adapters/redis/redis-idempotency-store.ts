import { StoreClosedError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import {
  KeyWaiters,
  type ClaimResult,
  type IdempotencyStore,
} from '../../messaging/idempotency-store.js';
import {
  closeClient,
  openClient,
  redactUrl,
  unavailable,
  type RedisClient,
} from './redis-connection.js';
import { describe, escapeName } from './redis-keys.js';
import { RedisScript } from './redis-scripts.js';

export interface RedisIdempotencyStoreOptions {
  /** Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of every key (and of the change channel). Default `causeway`. */
  prefix?: string;
  /** Connection losses while the store reconnects by itself. Default: a process warning. */
  onError?: (error: unknown) => void;
}

/**
 * Takes the key when it is free; a key whose lease or result expired is simply gone (Redis
 * TTL), so absence is the only free state. KEYS: key. ARGV: lease ms, new token.
 */
const CLAIM = new RedisScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'result')
if h[1] == 'completed' then return {'completed', h[2]} end
if h[1] == 'claimed' then return {'in_progress', tostring(redis.call('PTTL', KEYS[1]))} end
redis.call('HSET', KEYS[1], 'state', 'claimed', 'token', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {'claimed', ARGV[2]}`);

/** KEYS: key. ARGV: lease ms, token. */
const RENEW = new RedisScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'token')
if h[1] ~= 'claimed' or h[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`);

/** KEYS: key. ARGV: token, result, ttl ms ('' keeps it forever), channel, key name. */
const COMPLETE = new RedisScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'token')
if h[1] ~= 'claimed' or h[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'completed', 'result', ARGV[2])
if ARGV[3] == '' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`);

/** KEYS: key. ARGV: token, channel, key name. */
const RELEASE = new RedisScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'token')
if h[1] ~= 'claimed' or h[2] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`);

/**
 * Idempotency keys in Redis, with the memory store's semantics: each key is a hash whose TTL
 * is the claim's lease, then the result's time to live (none: kept until deleted). Every
 * operation is one Lua script, so a claim is taken by one caller on any host, and a caller
 * whose lease ran out (and was taken over) can neither renew nor record a result. Leases run
 * on Redis' clock. Completions and releases are published on one channel, so waiters in every
 * process wake at once; their bounded wait is the fallback for a message lost in a reconnect.
 *
 * Durability is Redis': a key acknowledged just before a crash of a Redis without the AOF (or
 * with `appendfsync everysec`) can be lost, and the operation would then run again.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #waiters = new KeyWaiters();
  readonly #prefix: string;
  readonly #channel: string;
  #subscriber: Promise<RedisClient> | undefined;
  #closed = false;

  private constructor(
    private readonly client: RedisClient,
    private readonly address: string,
    private readonly options: RedisIdempotencyStoreOptions,
  ) {
    this.#prefix = options.prefix ?? 'causeway';
    this.#channel = `${this.#prefix}:idempotency-changed`;
  }

  /** Connects, failing fast with `StoreUnavailableError` when Redis cannot be reached. */
  static async connect(options: RedisIdempotencyStoreOptions = {}): Promise<RedisIdempotencyStore> {
    const url = options.url ?? 'redis://127.0.0.1:6379';
    const client = await openClient(url, options.onError ?? warn);
    return new RedisIdempotencyStore(client, redactUrl(url), options);
  }

  async claim(key: string, leaseMs: number): Promise<ClaimResult> {
    const [status, value] = await this.#run<[string, string]>(CLAIM, key, [
      String(Math.max(1, Math.ceil(leaseMs))),
      newId(),
    ]);
    if (status === 'completed') return { status, result: value };
    if (status === 'claimed') return { status, token: value };
    return {
      status: 'in_progress',
      leaseExpiresAt: new Date(Date.now() + Math.max(0, Number(value))),
    };
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    const renewed = await this.#run<number>(RENEW, key, [
      String(Math.max(1, Math.ceil(leaseMs))),
      token,
    ]);
    return renewed === 1;
  }

  async complete(
    key: string,
    token: string,
    result: string,
    ttlMs: number | undefined,
  ): Promise<boolean> {
    const ttl = ttlMs === undefined ? '' : String(Math.max(0, Math.ceil(ttlMs)));
    const done = await this.#run<number>(COMPLETE, key, [token, result, ttl, this.#channel, key]);
    return done === 1;
  }

  async release(key: string, token: string): Promise<void> {
    await this.#run(RELEASE, key, [token, this.#channel, key]);
  }

  async waitForChange(key: string, maxWaitMs: number): Promise<void> {
    if (this.#closed) throw new StoreClosedError();
    // Without the subscription (Redis unreachable) the bounded wait alone remains.
    await this.#subscribe().catch(() => undefined);
    await this.#waiters.wait(key, maxWaitMs, (done) => {
      // A change published before the subscription was live would be missed: look once.
      void this.client
        .sendCommand<string | null>(['HGET', this.#key(key), 'state'])
        .then((state) => state !== 'claimed' && done(), done);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiters.wakeAll();
    const subscriber = await this.#subscriber?.catch(() => undefined);
    await Promise.all([subscriber && closeClient(subscriber), closeClient(this.client)]);
  }

  #key(key: string): string {
    return `${this.#prefix}:idempotency:${escapeName(key)}`;
  }

  async #run<T>(script: RedisScript, key: string, args: readonly string[]): Promise<T> {
    if (this.#closed) throw new StoreClosedError();
    try {
      return await script.run<T>(this.client, [this.#key(key)], args);
    } catch (error) {
      throw unavailable(this.address, error);
    }
  }

  /** One subscriber connection per store, opened by the first waiter. */
  #subscribe(): Promise<RedisClient> {
    this.#subscriber ??= (async () => {
      const subscriber = await openClient(
        this.options.url ?? 'redis://127.0.0.1:6379',
        this.options.onError ?? warn,
      );
      await subscriber.subscribe(this.#channel, (key) => this.#waiters.wake(key));
      return subscriber;
    })();
    this.#subscriber.catch(() => (this.#subscriber = undefined));
    return this.#subscriber;
  }
}

function warn(error: unknown): void {
  process.emitWarning(`Redis idempotency store: ${describe(error)}`, 'CausewayIdempotencyWarning');
}
