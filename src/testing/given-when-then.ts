import { AssertionError, deepStrictEqual } from 'node:assert/strict';
import type { Aggregate, DomainEvent } from '../domain/aggregate.js';
import { decisionEvents, foldEvents, type Decider } from '../domain/decider.js';

/**
 * Given/when/then for deciders and aggregates, independent of the test runner: failures are
 * `AssertionError`s with an expected/actual diff that vitest, jest and node:test all render.
 *
 *   deciderSpec(orderDecider).given([placed]).when(confirm).then([confirmed]);
 *   deciderSpec(orderDecider).given([cancelled]).when(confirm).thenThrows(OrderNotPending);
 */
export function deciderSpec<S, C, E extends DomainEvent>(decider: Decider<S, C, E>) {
  return {
    given(events: readonly E[]) {
      return {
        when(command: C) {
          const run = () =>
            decisionEvents(
              decider.decide(command, foldEvents(decider, decider.initialState(), events)),
            );
          return outcome(run);
        },
      };
    },
  };
}

/** Given/when/then for class aggregates: `when` calls a method, `then` checks the new events. */
export function aggregateSpec<A extends Aggregate<E>, E extends DomainEvent>(create: () => A) {
  return {
    given(events: readonly E[]) {
      return {
        when(action: (aggregate: A) => unknown) {
          return outcome(() => {
            const aggregate = create();
            aggregate.loadFromHistory(events, events.length);
            action(aggregate);
            return aggregate.getUncommittedEvents();
          });
        },
      };
    },
  };
}

type ErrorMatcher = (new (...args: never[]) => Error) | ((error: unknown) => boolean);

function outcome<E>(run: () => readonly E[]) {
  return {
    then(expected: readonly E[]): void {
      deepStrictEqual(stripUndefined(run()), stripUndefined(expected));
    },
    thenThrows(matcher: ErrorMatcher, check?: (error: unknown) => void): void {
      let produced: readonly E[];
      try {
        produced = run();
      } catch (error) {
        const matches = isClass(matcher) ? error instanceof matcher : matcher(error);
        if (!matches) {
          throw new AssertionError({
            message: `Expected a different error, got: ${String(error)}`,
            actual: error,
            expected: matcher,
          });
        }
        check?.(error);
        return;
      }
      throw new AssertionError({
        message: 'Expected an error, but the command produced events',
        actual: produced,
        expected: matcher,
      });
    },
  };
}

function isClass(matcher: ErrorMatcher): matcher is new (...args: never[]) => Error {
  return (
    typeof matcher === 'function' && /^class\s/.test(Function.prototype.toString.call(matcher))
  );
}

/** Events compare as data: properties set to `undefined` are the same as missing ones. */
function stripUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
