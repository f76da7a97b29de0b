/**
 * What a running demo is, however it is deployed: the orders service in this process, the
 * transport it talks on, and read access to the stores the summary audits. Single-process
 * mode runs the other three services here too; distributed mode runs them as children.
 */
import type { DeadLetterStore } from '../messaging/dead-letters.js';
import type { Transport } from '../messaging/create-transport.js';
import type { MetricsEndpoint } from './http.js';
import type { OrdersService } from './orders-service.js';
import type { DemoSql } from './sql.js';

export interface DemoSystem {
  /** One line for the summary's header, e.g. `single process · SQLite /tmp/…/demo.db`. */
  readonly description: string;
  readonly orders: OrdersService;
  readonly transport: Transport;
  readonly deadLetters: DeadLetterStore;
  /** Where the services' ledgers live (read by the audit after the run). */
  readonly ledgers: DemoSql;
  readonly metrics: MetricsEndpoint;
  /** The `/metrics` URL of each service process that serves its own (distributed mode). */
  serviceMetricsUrls?(): Readonly<Record<string, string>>;
  /** Resolves once the dead-letter queue holds at least `count` letters. */
  waitForDeadLetters(count: number, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
