import { createHash } from 'node:crypto';
import { isReplyError } from './redis-keys.js';

/** What the driver needs of a node-redis client: raw commands (replies as RESP2 arrays). */
export interface RedisCommands {
  sendCommand<T = unknown>(args: readonly string[]): Promise<T>;
}

/** A Lua script run by its SHA1, loaded again when the server lost its script cache (restart). */
export class RedisScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run<T>(
    client: RedisCommands,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await client.sendCommand<T>(['EVALSHA', this.sha, ...tail]);
    } catch (error) {
      if (!isReplyError(error, 'NOSCRIPT')) throw error;
      return client.sendCommand<T>(['EVAL', this.source, ...tail]);
    }
  }
}

/** Redis' own clock in ms, so due times never depend on which machine's clock scheduled them. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Acks deliveries of one stream; entries of a group's retry stream are deleted too (only that
 * group reads it).
 * KEYS: source stream. ARGV: group, delete ('1'/'0'), entry ids.
 */
export const ACK = new RedisScript(`
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 3))
if ARGV[2] == '1' then redis.call('XDEL', KEYS[1], unpack(ARGV, 3)) end
return acked`);

/**
 * Schedules a retry and acks the failed delivery in one step: the message is either still
 * pending (redelivered after a crash) or waiting in the delayed set, never neither. Nothing
 * happens when the entry is no longer pending (settled by whoever claimed it meanwhile).
 * KEYS: delayed set, source stream. ARGV: group, entry id, delay ms, member, delete ('1'/'0').
 */
export const SCHEDULE_RETRY = new RedisScript(`
${NOW}
if redis.call('XACK', KEYS[2], ARGV[1], ARGV[2]) == 0 then return -1 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
if ARGV[5] == '1' then redis.call('XDEL', KEYS[2], ARGV[2]) end
return now + tonumber(ARGV[3])`);

/**
 * Moves due retries (members are JSON arrays of stream fields) into the group's retry stream,
 * each XADD before its ZREM so a failure half-way can only duplicate. Returns how many moved
 * and the ms until the next one is due (-1: none).
 * KEYS: delayed set, retry stream. ARGV: limit.
 */
export const MOVE_DUE = new RedisScript(`
${NOW}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', unpack(cjson.decode(member)))
  redis.call('ZREM', KEYS[1], member)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] == nil then return {#due, -1} end
return {#due, math.max(0, tonumber(first[2]) - now)}`);

/**
 * Dead-letters a delivery: the letter is added and the original acked in one step.
 * KEYS: dead-letter stream, source stream. ARGV: group, entry id, delete ('1'/'0'), fields...
 */
export const DEAD_LETTER = new RedisScript(`
if redis.call('XACK', KEYS[2], ARGV[1], ARGV[2]) == 0 then return false end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
if ARGV[3] == '1' then redis.call('XDEL', KEYS[2], ARGV[2]) end
return id`);

/**
 * Claims entries whose consumer has been idle for the minimum time (crashed, or gone without
 * settling) and returns each one's delivery count from the pending entries list, which the
 * claim just incremented: that count is the attempt number.
 * KEYS: stream. ARGV: group, consumer, min idle ms, start id, count.
 * Returns { next start id, entries, deleted ids, delivery counts }.
 */
export const CLAIM_IDLE = new RedisScript(`
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local entries = {}
local counts = {}
for _, e in ipairs(r[2]) do
  if e and e[2] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    entries[#entries + 1] = e
    counts[#counts + 1] = p[1] and p[1][4] or 1
  end
end
return {r[1], entries, r[3] or {}, counts}`);

/**
 * Resets the idle time of entries this consumer still owns, so no other consumer claims them
 * from under a long-running handler. Entries another consumer took over are left alone.
 * KEYS: stream. ARGV: group, consumer, ids...
 */
export const KEEP_ALIVE = new RedisScript(`
local kept = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept`);

/**
 * Gives an unstarted delivery back: it stays pending, made idle enough to be claimed at once
 * by the group's next consumer, with its delivery count lowered so the claim does not count
 * as an attempt.
 * KEYS: stream. ARGV: group, consumer, entry id, idle ms, delivery count to set.
 */
export const RELEASE = new RedisScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if not p[1] or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'RETRYCOUNT', ARGV[5], 'JUSTID')
return 1`);

/**
 * Replays a dead letter to its group's retry stream (first attempt again) and removes it, in
 * one step. KEYS: dead-letter stream, retry stream. ARGV: letter id, fields...
 */
export const REPLAY_DEAD_LETTER = new RedisScript(`
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
return 1`);

/**
 * Removes consumers of the group that hold nothing and have not read for `min idle` ms: those
 * of stopped or crashed processes (whose entries were claimed since). The check and the removal
 * are one step, so a consumer that just received entries is never removed with them; a live
 * one removed anyway is created again by its next read.
 * KEYS: stream. ARGV: group, min idle ms, consumer to remove regardless of idle time ('' none).
 */
export const REMOVE_IDLE_CONSUMERS = new RedisScript(`
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['pending'] == 0 and (info['idle'] >= tonumber(ARGV[2]) or info['name'] == ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed`);
