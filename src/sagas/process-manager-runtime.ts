import { systemClock, type Clock } from '../core/clock.js';
import type { CloudEvent } from '../core/envelope.js';
import { ValidationError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { serializeJson } from '../core/serializer.js';
import type { SubscriptionHandler } from '../event-store/subscription.js';
import { toMessage } from '../messaging/binary-codec.js';
import type { MessageHandler } from '../messaging/consumer.js';
import type { Message, OutgoingMessage } from '../messaging/message.js';
import { UnknownProcessInstanceError } from './process-errors.js';
import type { ProcessContext, ProcessManagerDefinition, TimerDue } from './process-manager.js';
import type { ProcessInstance, ProcessStore, ProcessTransaction } from './process-store.js';
import type { TimerRecord, TimerSchedule } from './timer-store.js';
import type { TimerFire } from './timers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one runtime holds managers of different state types; each is only run with its own state
type AnyProcessManager = ProcessManagerDefinition<any>;

/**
 * What applying a message did, per manager: `applied` (state saved), `duplicate` (already
 * processed: nothing written), `uncorrelated` (the manager does not handle the type, or its
 * correlate returned `undefined`), `unknown_instance` (no instance and the type does not start
 * one; ignored), `completed` (the instance is completed; ignored).
 */
export type ProcessOutcome =
  'applied' | 'duplicate' | 'uncorrelated' | 'unknown_instance' | 'completed';

export interface ProcessManagerRuntimeOptions {
  store: ProcessStore;
  managers: readonly AnyProcessManager[];
  /** `ctx.now`, timer due times and timestamps. Tests inject `VirtualTime`. */
  clock?: Clock;
  /** Firings of timers the manager no longer has a handler for. Default: a process warning. */
  onError?: (error: unknown) => void;
}

interface Effects {
  emits: { destination: string; message: OutgoingMessage }[];
  schedules: Map<string, TimerSchedule>;
  cancels: Set<string>;
  completed: boolean;
}

/**
 * Applies messages and timers to process managers. Each message (or timer firing) is one
 * store transaction holding: the processed-message record (so a redelivered message or a
 * replayed event is not applied twice), the instance's new state, the timers scheduled or
 * cancelled, the fired marker of the timer, and the emitted messages as outbox rows. A crash
 * anywhere before the commit leaves none of them; the redelivery applies the message for real.
 *
 * Inputs: `messageHandler` for a transport consumer (`Consumer.start(driver, destination,
 * group, runtime.messageHandler)`), `eventHandler` for an event-store subscription
 * (`store.subscribe(name, runtime.eventHandler, { filter: { types } })`, checkpointed; events
 * replayed after a crash are recognised by id), `fireTimer` for a `TimerScheduler`.
 */
export class ProcessManagerRuntime {
  readonly #store: ProcessStore;
  readonly #managers = new Map<string, AnyProcessManager>();
  readonly #clock: Clock;
  readonly #onError: (error: unknown) => void;

  constructor(options: ProcessManagerRuntimeOptions) {
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#onError =
      options.onError ??
      ((error) => process.emitWarning(`causeway process manager: ${String(error)}`));
    for (const manager of options.managers) {
      if (this.#managers.has(manager.name))
        throw new ValidationError('Invalid process manager runtime', [
          { path: ['managers'], message: `two process managers are named "${manager.name}"` },
        ]);
      this.#managers.set(manager.name, manager);
    }
  }

  /** The managers' names: the timer scopes a `TimerScheduler` for this runtime serves. */
  get managers(): string[] {
    return [...this.#managers.keys()];
  }

  /** Every message type some manager correlates: what to subscribe to. */
  get types(): string[] {
    return [...new Set([...this.#managers.values()].flatMap((m) => m.types))];
  }

  /** The instance as committed. */
  get(manager: string, key: string): Promise<ProcessInstance | undefined> {
    return this.#store.get(manager, key);
  }

  /** For `Consumer.start`: applies the message; a throw is retried by the consumer. */
  readonly messageHandler: MessageHandler = async (message) => {
    await this.handle(message);
  };

  /** For `eventStore.subscribe`: applies the event; replays after a restart are duplicates. */
  readonly eventHandler: SubscriptionHandler = async (event) => {
    await this.handle(event);
  };

  /** For `TimerScheduler`: fires the timer into its manager in one transaction. */
  readonly fireTimer: TimerFire = (timer, owner, now) => this.#fire(timer, owner, now);

  /** Applies `message` to every manager that correlates its type, one transaction each. */
  async handle(message: CloudEvent): Promise<Record<string, ProcessOutcome>> {
    const outcomes: Record<string, ProcessOutcome> = {};
    for (const manager of this.#managers.values()) {
      outcomes[manager.name] = await this.#apply(manager, message);
    }
    return outcomes;
  }

  async #apply(manager: AnyProcessManager, message: CloudEvent): Promise<ProcessOutcome> {
    const correlate = manager.correlate[message.type];
    const key = correlate?.(message);
    if (key === undefined) return 'uncorrelated';
    return this.#store.transaction(async (tx) => {
      if (!(await tx.markProcessed(manager.name, message.id))) return 'duplicate';
      const instance = await tx.load(manager.name, key);
      if (instance?.status === 'completed') return 'completed';
      if (!instance && !manager.startedBy.has(message.type)) {
        if (manager.unknownInstance === 'retry')
          throw new UnknownProcessInstanceError(manager.name, key, message.type);
        return 'unknown_instance';
      }
      const handler = manager.handlers[message.type];
      if (!handler) return 'uncorrelated';
      await this.#step(tx, manager, key, instance, message, (state, ctx) =>
        handler(state, message, ctx),
      );
      return 'applied';
    });
  }

  async #fire(timer: TimerRecord, owner: string, now: Date): Promise<boolean> {
    const manager = this.#managers.get(timer.scope);
    if (!manager) {
      // Another runtime's timer: this scheduler should have been given `scopes:
      // runtime.managers`. The lease runs out and the runtime that serves it claims it.
      this.#onError(new Error(`timer ${timer.id}: no process manager "${timer.scope}" here`));
      return false;
    }
    return this.#store.transaction(async (tx) => {
      if (!(await tx.fire(timer.id, owner, now))) return false;
      const instance = await tx.load(manager.name, timer.key);
      if (!instance || instance.status === 'completed') return true;
      const handler = manager.timers[timer.name];
      if (!handler) {
        this.#onError(
          new Error(`process manager "${manager.name}" has no handler for timer "${timer.name}"`),
        );
        return true;
      }
      const trigger = { id: timer.id, correlationid: undefined };
      await this.#step(tx, manager, timer.key, instance, trigger, (state, ctx) =>
        handler(state, timer, ctx),
      );
      return true;
    });
  }

  async #step(
    tx: ProcessTransaction,
    manager: AnyProcessManager,
    key: string,
    instance: ProcessInstance | undefined,
    trigger: { id: string; correlationid?: string | undefined },
    run: (state: unknown, ctx: ProcessContext) => unknown,
  ): Promise<void> {
    const now = this.#clock.now();
    const effects: Effects = {
      emits: [],
      schedules: new Map(),
      cancels: new Set(),
      completed: false,
    };
    const ctx: ProcessContext = {
      manager: manager.name,
      key,
      now,
      existed: instance !== undefined,
      emit: (destination, message) => effects.emits.push({ destination, message }),
      schedule: (name, due, payload) => {
        effects.cancels.delete(name);
        effects.schedules.set(name, {
          id: newId(),
          scope: manager.name,
          key,
          name,
          dueAt: dueAt(due, now),
          payload,
        });
      },
      cancel: (name) => {
        effects.schedules.delete(name);
        effects.cancels.add(name);
      },
      complete: () => {
        effects.completed = true;
      },
    };
    // The handler gets a copy: a throw must not leave a half-mutated state behind.
    const current = instance ? structuredClone(instance.state) : manager.initialState(key);
    const next = await run(current, ctx);
    const state = JSON.parse(serializeJson(next, `state of ${manager.name} ${key}`)) as unknown;
    await tx.save({
      manager: manager.name,
      key,
      status: effects.completed ? 'completed' : 'active',
      state,
      version: (instance?.version ?? 0) + 1,
      createdAt: instance?.createdAt ?? now,
      updatedAt: now,
      completedAt: effects.completed ? now : undefined,
    });
    if (effects.completed) await tx.cancel(manager.name, key);
    else {
      for (const name of effects.cancels) await tx.cancel(manager.name, key, name);
      for (const timer of effects.schedules.values()) await tx.schedule(timer);
    }
    const byDestination = new Map<string, Message[]>();
    for (const { destination, message } of effects.emits) {
      const built = toMessage(
        {
          partitionkey: key,
          causationid: trigger.id,
          correlationid: trigger.correlationid ?? key,
          ...message,
        },
        now,
      );
      byDestination.set(destination, [...(byDestination.get(destination) ?? []), built]);
    }
    for (const [destination, messages] of byDestination) await tx.emit(destination, messages);
  }
}

function dueAt(due: TimerDue, now: Date): Date {
  if ('at' in due) return new Date(due.at);
  if (!Number.isFinite(due.in) || due.in < 0)
    throw new ValidationError('Invalid timer', [
      { path: ['in'], message: 'must be a finite number of milliseconds >= 0' },
    ]);
  return new Date(now.getTime() + due.in);
}
