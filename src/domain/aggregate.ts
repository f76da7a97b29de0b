/** An event as an aggregate or decider produces it: a type and its data. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
}

/**
 * The class style of aggregate: commands are methods that check invariants and call
 * `apply(event)`; `when(event)` is the only place state changes, used both for new events
 * and when replaying history, so the two can never drift apart.
 */
export abstract class Aggregate<E extends DomainEvent = DomainEvent> {
  #version = 0;
  #uncommitted: E[] = [];

  constructor(readonly id: string) {}

  /** The stream version this instance was loaded or saved at (uncommitted events not counted). */
  get version(): number {
    return this.#version;
  }

  /** Records a new event and applies it to the state. */
  protected apply(event: E): void {
    this.when(event);
    this.#uncommitted.push(event);
  }

  /** The state transition for one event. Must not throw for events already stored. */
  protected abstract when(event: E): void;

  /** Rebuilds state from stored events; `version` is the version of the last one. */
  loadFromHistory(events: Iterable<E>, version: number): void {
    for (const event of events) this.when(event);
    this.#version = version;
  }

  /** Sets the version after restoring state from a snapshot. */
  restoredAt(version: number): void {
    this.#version = version;
  }

  getUncommittedEvents(): readonly E[] {
    return this.#uncommitted;
  }

  /** Called by the repository once the events are stored. */
  markCommitted(version: number): void {
    this.#uncommitted = [];
    this.#version = version;
  }
}
