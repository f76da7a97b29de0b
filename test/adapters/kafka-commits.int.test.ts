/**
 * How the Kafka consumer commits: only settled offsets, never past an unsettled one (checked
 * by killing a consumer process mid-batch), and without making handlers wait for each commit
 * round (`prefetch` bounds what they hold, `maxUncommitted` what a crash repeats).
 */
import { spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTransport } from 'causeway';
import { KafkaTransportDriver } from 'causeway/kafka';
import { distinct } from './fixtures/collector.js';
import {
  deleteDestinations,
  freshPrefix,
  kafkaSettings,
  kafkaTestMessage as message,
} from './fixtures/kafka-transport-harness.js';

/** Published by @platformatic/kafka once the broker answered a commit request. */
const COMMIT_ANSWERS = 'tracing:plt:kafka:consumer:commits:asyncStart';

const prefix = freshPrefix();
const settings = kafkaSettings(prefix);
const destinations: string[] = [];
let counter = 0;

function freshDestination(): string {
  const destination = `c${++counter}`;
  destinations.push(destination);
  return destination;
}

describe('Kafka consumer commits', () => {
  afterAll(() => deleteDestinations(prefix, destinations.splice(0)));

  it('commits only settled offsets: a consumer killed mid-batch (kill -9) loses nothing, only handled-but-uncommitted work repeats', async () => {
    const destination = freshDestination();
    const group = 'crashy';
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        fileURLToPath(new URL('./fixtures/kafka-consumer-process.ts', import.meta.url)),
        prefix,
        destination,
        group,
      ],
      { cwd: resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const lines = createInterface({ input: child.stdout });
    const started = new Set<string>();
    const handledByChild = new Set<string>();
    let ready = false;
    const checks = new Set<() => void>();
    // One listener for the child's whole life: no line is missed between two waits.
    lines.on('line', (text: string) => {
      const line = JSON.parse(text) as { ready?: boolean; started?: string; handled?: string };
      if (line.ready) ready = true;
      if (line.started) started.add(line.started);
      if (line.handled) handledByChild.add(line.handled);
      for (const check of checks) check();
    });
    const wait = (test: () => boolean) =>
      new Promise<void>((done, reject) => {
        const check = () => {
          if (!test()) return;
          checks.delete(check);
          done();
        };
        checks.add(check);
        check();
        void exited.then(() => reject(new Error(`consumer process exited: ${stderr}`)));
      });
    const driver = await KafkaTransportDriver.connect(settings);
    const transport = createTransport(driver);
    try {
      await wait(() => ready);
      // 60 messages on 3 partitions, 6 keys; two hang in the child, so later messages of their
      // partitions (other keys) are handled out of order while they stay unsettled.
      const ids = await transport.publish(
        destination,
        Array.from({ length: 60 }, (_, n) => ({
          type: 'Job',
          data: { n, hang: n === 7 || n === 20 },
          partitionkey: `key-${n % 6}`,
        })),
      );
      const hanging = new Set([ids[7]!, ids[20]!]);
      await wait(() => handledByChild.size >= 30 && [...hanging].every((id) => started.has(id)));
      child.kill('SIGKILL');
      await exited;
      const heldWhenKilled = [...started].filter((id) => !handledByChild.has(id));
      const after = distinct<string>(ids.length - handledByChild.size);
      const repeated = new Set<string>();
      await transport.subscribe(destination, group, (m) => {
        if (handledByChild.has(m.id)) repeated.add(m.id);
        else after.add(m.id);
      });
      await after.complete;
      // Every message is handled; nothing the child held unfinished was committed.
      expect(new Set([...handledByChild, ...after.seen])).toEqual(new Set(ids));
      for (const id of heldWhenKilled) expect(after.seen.has(id)).toBe(true);
      expect(heldWhenKilled.length).toBeGreaterThan(0);
      console.info(
        `kill -9: child handled ${handledByChild.size}, held ${heldWhenKilled.length} unfinished; ` +
          `after restart ${after.seen.size} new, ${repeated.size} repeated (handled, not yet committed)`,
      );
    } finally {
      child.kill('SIGKILL');
      await transport.close();
    }
  }, 60_000);

  it('handlers run on while commits are in flight: at most prefetch held, at most maxUncommitted uncommitted', async () => {
    const destination = freshDestination();
    const prefetch = 4;
    const maxUncommitted = 24;
    // One partition, so the offsets handed out are 0, 1, 2, … in delivery order and a commit's
    // offset says how many of them a crash would no longer deliver again.
    const driver = await KafkaTransportDriver.connect({
      ...settings,
      partitions: 1,
      maxUncommitted,
    });
    let committed = 0n;
    let rounds = 0;
    const done = (context: unknown) => {
      const { options, error } = context as {
        options: { offsets: { topic: string; offset: bigint }[] };
        error?: unknown;
      };
      if (error !== undefined) return;
      for (const o of options.offsets)
        if (o.topic.endsWith(`.${destination}`)) {
          rounds++;
          if (o.offset > committed) committed = o.offset;
        }
    };
    // The broker has answered the commit (before the client's callback, so before the consumer
    // counts it): measuring against it can only overstate what is uncommitted.
    subscribe(COMMIT_ANSWERS, done);
    try {
      const total = 400;
      await driver.publish(
        destination,
        Array.from({ length: total }, (_, i) => message('batched', `key-${i % 7}`)),
      );
      const acked = distinct<string>(total);
      let delivered = 0;
      let held = 0;
      let mostHeld = 0;
      let mostUncommitted = 0;
      const handle = await driver.consume(destination, 'g', { prefetch }, (delivery) => {
        delivered++;
        held++;
        mostHeld = Math.max(mostHeld, held);
        mostUncommitted = Math.max(mostUncommitted, delivered - Number(committed));
        // Acked a turn after delivery, as the runtime's handlers do.
        setImmediate(() => {
          held--;
          void delivery.ack().then(() => acked.add(delivery.message?.id ?? ''));
        });
      });
      await acked.complete;
      await handle.stop();
      await driver.close();
      expect(mostHeld).toBe(prefetch);
      expect(mostUncommitted).toBeLessThanOrEqual(maxUncommitted);
      // The handlers did not wait for each commit round to free their slots...
      expect(mostUncommitted).toBeGreaterThan(prefetch);
      // ...and rounds coalesce what settled meanwhile, so there are far fewer rounds than
      // prefetch-sized batches.
      expect(rounds).toBeLessThanOrEqual(total / prefetch / 2);
      expect(committed).toBe(BigInt(total));
    } finally {
      unsubscribe(COMMIT_ANSWERS, done);
      await driver.close();
    }
  });
});
