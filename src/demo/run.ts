/**
 * The demo's client: places the orders through the HTTP API (real HTTP), sends one poison
 * command, waits — on events, not timers — until every order is settled and every saga has
 * finished, then gathers the summary from the read model, the saga store, the dead-letter
 * queue and the services' ledgers.
 */
import type { ProgressSink } from '../cli/context.js';
import { progressView } from '../cli/progress.js';
import { TimeoutError } from '../core/errors.js';
import { auditLedgers } from './audit.js';
import { demoOrder } from './catalogue.js';
import { fulfilmentId } from './fulfilment.js';
import { ordersApi, type FieldIssue } from './http.js';
import { DESTINATIONS } from './services.js';
import { percentile, type DemoSummary } from './summary.js';
import type { DemoSystem } from './system.js';

export interface DemoRunOptions {
  orders: number;
  /** Requests in flight at once. Default 16. */
  concurrency?: number;
  /** Gives up (and names the stuck orders) after this long. Default 120 s. */
  timeoutMs?: number;
  progress: ProgressSink;
}

/** The HTTP API over a running system (not listening yet). */
export function serveOrders(system: DemoSystem): ReturnType<typeof ordersApi> {
  return ordersApi({
    commands: system.orders.commands,
    views: system.orders.views,
    metrics: system.metrics,
  });
}

/** `POST /orders`; throws unless the API answers 202. */
export async function placeOrder(baseUrl: string, body: unknown): Promise<string> {
  const response = await fetch(`${baseUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as { orderId?: string; message?: string };
  if (response.status !== 202 || answer.orderId === undefined)
    throw new Error(`POST /orders answered ${response.status}: ${answer.message ?? '?'}`);
  return answer.orderId;
}

/** Sends a body the API must refuse; returns the field issues of its 400. */
export async function placeInvalidOrder(baseUrl: string): Promise<FieldIssue[]> {
  const body = { ...demoOrder(0), items: [{ sku: 'sku-mug', quantity: 0, unitPriceCents: 100 }] };
  const response = await fetch(`${baseUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 400)
    throw new Error(`an invalid order was answered ${response.status}, not 400`);
  return ((await response.json()) as { issues: FieldIssue[] }).issues;
}

/**
 * A malformed command from a buggy client, sent straight to the inventory's destination:
 * its schema check fails, so it is dead-lettered at once, with the field path as its reason.
 */
export async function sendPoisonCommand(system: DemoSystem): Promise<void> {
  await system.transport.publish(DESTINATIONS.inventory, [
    {
      type: 'ReserveStock',
      data: { orderId: 'poison-1', items: [{ sku: 'sku-mug', quantity: -2 }] },
      partitionkey: 'poison-1',
      extensions: { idempotencykey: 'poison-1:reserve', replyto: 'demo-nowhere' },
    },
  ]);
}

export async function runDemo(
  system: DemoSystem,
  baseUrl: string,
  options: DemoRunOptions,
): Promise<DemoSummary> {
  const n = options.orders;
  const { views, runtime } = system.orders;
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 120_000);
  const view = progressView(options.progress, 'orders', 'orders');
  const started = performance.now();
  const placed = new Set<string>();
  const settled = new Set<string>();
  let allSettled!: () => void;
  const everyOrderSettled = new Promise<void>((resolve) => (allSettled = resolve));
  const report = () => {
    const seconds = (performance.now() - started) / 1000;
    view.update({
      projection: 'orders',
      version: 1,
      position: settled.size,
      head: n,
      eventsPerSecond: seconds > 0 ? settled.size / seconds : 0,
      caughtUp: settled.size === n,
    });
  };
  const done = () => {
    if (placed.size === n && [...placed].every((id) => settled.has(id))) allSettled();
  };
  const unlisten = views.onSettled((orderId) => {
    if (settled.has(orderId)) return;
    settled.add(orderId);
    report();
    done();
  });
  try {
    await sendPoisonCommand(system);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        placed.add(await placeOrder(baseUrl, demoOrder(i)));
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
    done();
    await untilAborted(everyOrderSettled, timeout, async () => {
      const stuck = [...placed].filter((id) => !settled.has(id));
      return `${stuck.length} of ${n} orders never settled, e.g. ${stuck.slice(0, 3).join(', ')} (see \`causeway sagas show fulfilment-<id>\`)`;
    });
    const elapsedMs = performance.now() - started;
    // The view settles with the saga's last step; the saga records its end right after.
    // One at a time: they are (nearly) all done, and each wait listens on the timeout signal.
    await untilAborted(
      (async () => {
        for (const id of placed) await runtime.wait(fulfilmentId(id), { signal: timeout });
      })(),
      timeout,
      async () => 'some sagas never finished after their orders settled',
    );
    await untilAborted(
      system.waitForDeadLetters(1, timeout),
      timeout,
      async () => 'the poison command never reached the dead-letter queue',
    );
    view.finish();
    return await gather(system, n, elapsedMs);
  } finally {
    unlisten();
    view.finish();
  }
}

async function gather(system: DemoSystem, n: number, elapsedMs: number): Promise<DemoSummary> {
  const { views } = system.orders;
  const counts = await views.countByStatus();
  const compensatedBy: Record<string, number> = {};
  for (const order of await views.list('cancelled', 10_000)) {
    const category = (order.reason ?? 'unknown').split(':')[0]!;
    compensatedBy[category] = (compensatedBy[category] ?? 0) + 1;
  }
  const latencies = await views.confirmationLatencies();
  const letters = await system.deadLetters.list({ limit: 10 });
  return {
    description: system.description,
    placed: n,
    completed: counts.confirmed,
    compensated: counts.cancelled,
    compensatedBy,
    pending: counts.pending,
    deadLetters: letters.map((letter) => ({
      destination: letter.destination,
      type: typeHeader(letter.message.headers),
      reason: letter.failure.reason,
      error: letter.failure.errorMessage,
    })),
    sagas: await system.orders.sagaCounts(),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    elapsedMs,
    ledger: await auditLedgers(system.ledgers),
    ...(system.serviceMetricsUrls && { serviceMetrics: { ...system.serviceMetricsUrls() } }),
  };
}

/** The CloudEvents `type` header, whatever prefix the broker's binding gives it. */
function typeHeader(headers: Readonly<Record<string, string>>): string {
  const entry = Object.entries(headers).find(([name]) =>
    /^(ce[_-]?|cloudevents[:_])type$/i.test(name),
  );
  return entry?.[1] ?? '?';
}

/** Awaits `work`; if `signal` fires first, fails with a `TimeoutError` saying what is stuck. */
async function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal,
  explain: () => Promise<string>,
): Promise<T> {
  const aborted = new Promise<never>((_, reject) => {
    const fail = () => void explain().then((why) => reject(new TimeoutError(why)), reject);
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
  return Promise.race([work, aborted]);
}
