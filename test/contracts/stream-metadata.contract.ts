import { describe, expect, it } from 'vitest';
import {
  ConcurrencyError,
  ManualClock,
  StreamDeletedError,
  StreamNotFoundError,
  ValidationError,
} from 'causeway';
import { collect } from 'causeway/testing';
import type { StoreUnderTest } from './harness.js';
import type { EventStoreOptions } from 'causeway';

interface Stores {
  create(options?: EventStoreOptions): Promise<StoreUnderTest>;
}

const ev = (type: string, data: unknown = {}) => ({ type, data });
const tenEvents = () => Array.from({ length: 10 }, (_, i) => ev('E', { i }));
const versionsOf = async (iterable: AsyncIterable<{ streamVersion: number }>) =>
  (await collect(iterable)).map((e) => e.streamVersion);

export function metadataContract(stores: Stores): void {
  describe('stream metadata', () => {
    it('truncateBefore hides older versions from readStream but not from the global log', async () => {
      const { store } = await stores.create();
      await store.appendToStream('s', tenEvents());
      await store.setStreamMetadata('s', { truncateBefore: 6 });
      expect(await versionsOf(store.readStream('s'))).toEqual([6, 7, 8, 9, 10]);
      expect(await versionsOf(store.readStream('s', { direction: 'backwards' }))).toEqual([
        10, 9, 8, 7, 6,
      ]);
      expect(await versionsOf(store.readStream('s', { from: 2 }))).toEqual([6, 7, 8, 9, 10]);
      expect(await collect(store.readAll())).toHaveLength(10);
      expect((await store.getStream('s'))?.metadata).toEqual({ truncateBefore: 6 });
    });

    it('maxCount keeps only the newest events readable', async () => {
      const { store } = await stores.create();
      await store.appendToStream('s', tenEvents());
      await store.setStreamMetadata('s', { maxCount: 3 });
      expect(await versionsOf(store.readStream('s'))).toEqual([8, 9, 10]);
      await store.appendToStream('s', [ev('E')]);
      expect(await versionsOf(store.readStream('s'))).toEqual([9, 10, 11]);
    });

    it('maxAge hides events older than the limit', async () => {
      const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
      const { store } = await stores.create({ clock });
      await store.appendToStream('s', [ev('Old')]);
      clock.advance(10_000);
      await store.appendToStream('s', [ev('New')]);
      await store.setStreamMetadata('s', { maxAge: 5_000, custom: { owner: 'team-a' } });
      expect((await collect(store.readStream('s'))).map((e) => e.type)).toEqual(['New']);
      expect(
        (await collect(store.readStream('s', { direction: 'backwards' }))).map((e) => e.type),
      ).toEqual(['New']);
      expect((await store.getStream('s'))?.metadata).toEqual({
        maxAge: 5_000,
        custom: { owner: 'team-a' },
      });
    });

    it('metadata may be set before the first event; the stream still counts as new', async () => {
      const { store } = await stores.create();
      await store.setStreamMetadata('fresh', { maxCount: 2 });
      await expect(collect(store.readStream('fresh'))).rejects.toBeInstanceOf(StreamNotFoundError);
      await store.appendToStream('fresh', [ev('A'), ev('B'), ev('C')], {
        expectedVersion: 'no_stream',
      });
      expect(await versionsOf(store.readStream('fresh'))).toEqual([2, 3]);
    });

    it('rejects invalid metadata with the field path', async () => {
      const { store } = await stores.create();
      const error = await store.setStreamMetadata('s', { maxCount: -1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues[0]?.path).toEqual(['metadata', 'maxCount']);
    });
  });

  describe('soft delete', () => {
    it('hides the stream, then lets it be recreated with numbering that continues', async () => {
      const { store } = await stores.create();
      await store.appendToStream('cart-1', [ev('Added'), ev('Added')]);
      await store.deleteStream('cart-1', { expectedVersion: 2 });
      await expect(collect(store.readStream('cart-1'))).rejects.toBeInstanceOf(StreamNotFoundError);
      expect(await store.getStream('cart-1')).toMatchObject({ state: 'soft_deleted', version: 2 });
      expect(await collect(store.listStreams())).toEqual([]);
      expect(
        (await collect(store.listStreams({ includeDeleted: true }))).map((s) => s.streamId),
      ).toEqual(['cart-1']);
      await expect(
        store.appendToStream('cart-1', [ev('Added')], { expectedVersion: 2 }),
      ).rejects.toBeInstanceOf(ConcurrencyError);
      await expect(
        store.appendToStream('cart-1', [ev('Added')], { expectedVersion: 'stream_exists' }),
      ).rejects.toBeInstanceOf(ConcurrencyError);

      const result = await store.appendToStream('cart-1', [ev('Recreated')], {
        expectedVersion: 'no_stream',
      });
      expect(result.nextExpectedVersion).toBe(3);
      expect(
        (await collect(store.readStream('cart-1'))).map((e) => [e.type, e.streamVersion]),
      ).toEqual([['Recreated', 3]]);
      expect(await store.getStream('cart-1')).toMatchObject({ state: 'active', version: 3 });
      // New metadata never brings the deleted life of the stream back.
      await store.setStreamMetadata('cart-1', { maxCount: 10 });
      expect(await versionsOf(store.readStream('cart-1'))).toEqual([3]);
      expect((await store.getStream('cart-1'))?.metadata).toEqual({
        maxCount: 10,
        truncateBefore: 3,
      });
    });

    it('checks the expected version before deleting', async () => {
      const { store } = await stores.create();
      await store.appendToStream('s', [ev('A')]);
      await expect(store.deleteStream('s', { expectedVersion: 5 })).rejects.toBeInstanceOf(
        ConcurrencyError,
      );
      expect(await versionsOf(store.readStream('s'))).toEqual([1]);
    });
  });

  describe('tombstone', () => {
    it('removes the events and refuses every later read or append', async () => {
      const { store } = await stores.create();
      await store.appendToStream('gdpr-user-1', [ev('Registered', { email: 'a@b.c' })]);
      await store.appendToStream('keep', [ev('Kept')]);
      await store.tombstoneStream('gdpr-user-1');
      await expect(collect(store.readStream('gdpr-user-1'))).rejects.toBeInstanceOf(
        StreamDeletedError,
      );
      await expect(store.appendToStream('gdpr-user-1', [ev('Again')])).rejects.toBeInstanceOf(
        StreamDeletedError,
      );
      await expect(
        store.appendToStream('gdpr-user-1', [ev('Again')], { expectedVersion: 'no_stream' }),
      ).rejects.toMatchObject({
        code: 'STREAM_DELETED',
      });
      await expect(store.deleteStream('gdpr-user-1')).rejects.toBeInstanceOf(StreamDeletedError);
      expect((await collect(store.readAll())).map((e) => e.type)).toEqual(['Kept']);
      expect(await store.getStream('gdpr-user-1')).toMatchObject({ state: 'tombstoned' });
      // Positions are never reused after the tail of the log was deleted.
      const before = (await collect(store.readAll())).at(-1)!.globalPosition;
      await store.tombstoneStream('keep');
      const next = await store.appendToStream('after', [ev('X')]);
      expect(next.positions[0]!).toBeGreaterThan(before);
    });
  });
}
