import type { DomainEvent } from './aggregate.js';

/**
 * The functional style: state is a value, `decide` turns a command into events (or throws a
 * `DomainError`), `evolve` folds one event into the state. Pure functions, trivially tested.
 */
export interface Decider<State, Command, Event extends DomainEvent> {
  initialState: () => State;
  decide(command: Command, state: State): Event | readonly Event[];
  evolve(state: State, event: Event): State;
}

export function foldEvents<State, Event extends DomainEvent>(
  decider: Pick<Decider<State, never, Event>, 'evolve'>,
  state: State,
  events: Iterable<Event>,
): State {
  let current = state;
  for (const event of events) current = decider.evolve(current, event);
  return current;
}

export function decisionEvents<Event>(decision: Event | readonly Event[]): readonly Event[] {
  return Array.isArray(decision) ? (decision as readonly Event[]) : [decision as Event];
}
