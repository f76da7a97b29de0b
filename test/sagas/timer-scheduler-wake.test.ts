import { expect, it } from 'vitest';
import { MemoryTimerStore, newId, TimerScheduler, type TimerStore } from 'causeway';
import { VirtualTime } from 'causeway/testing';

/** Counts claim rounds: each is a look for due timers. */
class CountingTimerStore extends MemoryTimerStore {
  rounds = 0;
  override claimDue(...args: Parameters<TimerStore['claimDue']>) {
    this.rounds++;
    return super.claimDue(...args);
  }
}

it('a sleeping scheduler wakes only for a timer due before its sleep ends', async () => {
  const time = new VirtualTime();
  const store = new CountingTimerStore();
  const fired: string[] = [];
  const scheduler = new TimerScheduler({
    store,
    clock: time,
    sleep: time.sleep,
    pollIntervalMs: 60_000,
    fire: async (timer, owner, now) => {
      fired.push(timer.name);
      return store.markFired(timer.id, owner, now);
    },
  });
  const at = (ms: number) => new Date(time.now().getTime() + ms);
  const schedule = (name: string, dueAt: Date) =>
    store.schedule({ id: newId(), scope: 'reminders', key: 'order-1', name, dueAt });
  scheduler.start();
  await time.advance(0);
  expect(store.rounds).toBe(1); // asleep until the poll, 60 s away

  await schedule('next-hour', at(3_600_000));
  await time.advance(0);
  expect(store.rounds).toBe(1); // due after the poll anyway: not worth a round

  await schedule('in-a-second', at(1_000));
  await time.advance(0);
  expect(store.rounds).toBe(2); // woke, found it not due yet, sleeps until it is
  await time.advance(1_000);
  expect(fired).toEqual(['in-a-second']);
  await scheduler.stop();
});
