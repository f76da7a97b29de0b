import { randomUUID } from 'node:crypto';
import { ValidationError } from '../core/errors.js';
import { DurableStateBackend } from './durable-state.js';
import { StateFencedError } from './errors.js';
import type { SourceReadOptions, StreamSource } from './ports.js';
import { keyIdOf } from './record.js';
import type { StateRepository } from './state-repository.js';
import type { StreamTask } from './task.js';

/**
 * The partition of a key: FNV-1a over its identity (`keyIdOf`), modulo `partitions`. Stable
 * across processes and releases: it decides which scope holds a key's state.
 */
export function partitionOf(key: unknown, partitions: number): number {
  const id = keyIdOf(key);
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

/**
 * The records of one partition of a source: those whose key hashes to `partition`. Every
 * partition reads the whole source (an event store's log has no partitions of its own) and
 * keeps its share, so a partition's input — and its results — do not depend on how many
 * processes share the work. A topology run this way must aggregate by the source key (or a
 * function of it): records re-keyed to another partition's key would be aggregated apart.
 */
export class PartitionedSource implements StreamSource {
  readonly name: string;
  constructor(
    private readonly source: StreamSource,
    readonly partition: number,
    readonly partitions: number,
  ) {
    this.name = source.name;
  }

  async *read(after: string | undefined, options?: SourceReadOptions) {
    for await (const record of this.source.read(after, options)) {
      if (partitionOf(record.key, this.partitions) === this.partition) yield record;
    }
  }
}

/** One partition as the worker runs it. */
interface Held {
  partition: number;
  backend: DurableStateBackend;
  stop: AbortController;
  running: Promise<unknown>;
}

export interface PartitionWorkerOptions {
  /** Names the work: partition `p`'s state scope is `<name>/p/<p>`. Same in every process. */
  name: string;
  repository: StateRepository;
  /** How many partitions the keys are split into (default 8). Never change it on live state. */
  partitions?: number;
  /** This process's id in the lease table (default: a random UUID). */
  owner?: string;
  /** How long a partition stays held without a renewal (default 10 s): a dead process's partitions move after it. */
  leaseMs?: number;
  /** How often leases are renewed and the share re-balanced (default `leaseMs / 4`). */
  intervalMs?: number;
  /**
   * Builds the task for a partition this process just claimed: a `StreamRuntime` over
   * `backend` (its state, restored) and sources wrapped in `PartitionedSource`.
   */
  task(partition: number, backend: DurableStateBackend): StreamTask;
  /** A partition's task failed (other than by losing its lease); it is released and may be claimed again. */
  onError?(partition: number, error: unknown): void;
  clock?: () => number;
}

/**
 * Shares a partitioned topology among processes through leases in the state database. Each
 * process registers as a member, holds at most its fair share (`ceil(partitions / members)`),
 * claims free or expired partitions, restores their state from the repository and runs their
 * tasks live; it renews its leases every `intervalMs`, gives partitions up (committing first)
 * when more members join, and releases all on `stop()`. A process that dies keeps its
 * partitions until their leases expire; whoever claims one then fences it, so a process that
 * only paused cannot commit over its successor.
 */
export class PartitionWorker {
  readonly owner: string;
  readonly #options: PartitionWorkerOptions;
  readonly #partitions: number;
  readonly #leaseMs: number;
  readonly #clock: () => number;
  readonly #held = new Map<number, Held>();
  #member: DurableStateBackend | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #round: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: PartitionWorkerOptions) {
    const partitions = options.partitions ?? 8;
    if (!Number.isSafeInteger(partitions) || partitions < 1) {
      throw new ValidationError('Invalid partition count', [
        { path: ['partitions'], message: 'must be a positive integer' },
      ]);
    }
    this.#options = options;
    this.#partitions = partitions;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#clock = options.clock ?? Date.now;
    this.owner = options.owner ?? randomUUID();
  }

  /** The partitions this process runs now. */
  get owned(): number[] {
    return [...this.#held.keys()].sort((a, b) => a - b);
  }

  /** Registers, claims a first share and keeps re-balancing until `stop()`. */
  async start(): Promise<void> {
    await this.#rebalance();
    this.#schedule();
  }

  /** Stops every task (each commits what it processed), releases its leases and its membership. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
    await Promise.all([...this.#held.keys()].map((partition) => this.#drop(partition, true)));
    await this.#member?.release();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(
      () => {
        this.#round = this.#rebalance().catch((error: unknown) =>
          this.#options.onError?.(-1, error),
        );
        void this.#round.then(() => this.#schedule());
      },
      this.#options.intervalMs ?? Math.max(50, this.#leaseMs / 4),
    );
  }

  async #rebalance(): Promise<void> {
    const { name, repository } = this.#options;
    this.#member ??= await DurableStateBackend.open({
      repository,
      scope: `${name}/members/${this.owner}`,
      owner: this.owner,
      leaseMs: this.#leaseMs,
      clock: this.#clock,
    });
    await this.#member?.renew();
    for (const [partition, held] of this.#held) {
      await held.backend.renew().catch((error: unknown) => {
        if (!(error instanceof StateFencedError)) throw error;
        void this.#drop(partition, false);
      });
    }
    const now = this.#clock();
    const members = (await repository.owners(`${name}/members/`)).filter(
      (member) => member.owner !== undefined && (member.leaseUntil ?? 0) > now,
    ).length;
    const share = Math.ceil(this.#partitions / Math.max(1, members));
    // Give back the highest-numbered partitions beyond the share, committing them first.
    for (const partition of this.owned.slice(share).reverse()) await this.#drop(partition, true);
    if (this.#held.size >= share || this.#stopped) return;
    const free = new Set<number>();
    for (let p = 0; p < this.#partitions; p++) if (!this.#held.has(p)) free.add(p);
    for (const scope of await repository.owners(`${name}/p/`)) {
      const partition = Number(scope.scope.slice(`${name}/p/`.length));
      if (scope.owner !== undefined && (scope.leaseUntil ?? 0) > now) free.delete(partition);
    }
    for (const partition of free) {
      if (this.#held.size >= share || this.#stopped) break;
      const backend = await DurableStateBackend.open({
        repository,
        scope: `${name}/p/${partition}`,
        owner: this.owner,
        leaseMs: this.#leaseMs,
        takeOver: false,
        clock: this.#clock,
      });
      if (backend) this.#run(partition, backend);
    }
  }

  #run(partition: number, backend: DurableStateBackend): void {
    const stop = new AbortController();
    const task = this.#options.task(partition, backend);
    const held: Held = { partition, backend, stop, running: Promise.resolve() };
    held.running = task.run(stop.signal).then(
      () => undefined,
      (error: unknown) => {
        if (this.#held.get(partition) !== held) return;
        this.#held.delete(partition);
        if (!(error instanceof StateFencedError)) this.#options.onError?.(partition, error);
        return backend.release().catch(() => undefined);
      },
    );
    this.#held.set(partition, held);
  }

  /** Stops a partition's task (it commits on the way out) and, if `release`, frees its lease. */
  async #drop(partition: number, release: boolean): Promise<void> {
    const held = this.#held.get(partition);
    if (!held) return;
    this.#held.delete(partition);
    held.stop.abort();
    await held.running;
    if (release) await held.backend.release().catch(() => undefined);
  }
}
