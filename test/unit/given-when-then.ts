/**
 * A tiny given/when/then harness for the pure deciders:
 *
 *   spec(scriptDecider).given(created).when(update).then([updated]);
 *   spec(scriptDecider).given().when(update).thenThrows(NotFoundError, /does not exist/);
 *   spec(scriptDecider).given(created, removed).thenState({ status: 'removed', … });
 *
 * `given` folds the events with `evolve` from the initial state. The events, the
 * state and the command are deep-frozen, so a decider or evolve that mutates its
 * input fails loudly instead of passing by accident; `decide` is run twice to
 * check that it is deterministic.
 */
import assert from 'node:assert/strict';

export interface Decider<Command, State, Event> {
  initialState: State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

type ErrorClass = abstract new (...args: never[]) => Error;

export interface WhenStep<State, Event> {
  /** The command yields exactly these events (in order); returns the state after them. */
  then(expected: Event[]): State;
  /** The command is refused with exactly this error class and a message matching every pattern. */
  thenThrows(errorClass: ErrorClass, ...patterns: RegExp[]): Error;
}

export interface GivenStep<Command, State, Event> {
  /** The state folded from the given events. */
  readonly state: State;
  thenState(expected: State): void;
  when(command: Command): WhenStep<State, Event>;
}

export function spec<Command, State, Event>(decider: Decider<Command, State, Event>) {
  const fold = (state: State, events: readonly Event[]): State =>
    events.reduce((current, event) => deepFreeze(decider.evolve(current, deepFreeze(structuredClone(event)))), state);

  return {
    given(...events: Event[]): GivenStep<Command, State, Event> {
      const state = fold(deepFreeze(structuredClone(decider.initialState)), events);
      return {
        state,
        thenState(expected) {
          assert.deepStrictEqual(state, expected);
        },
        when(command) {
          const frozen = deepFreeze(structuredClone(command));
          const decide = (): Event[] => decider.decide(frozen, state);
          return {
            then(expected) {
              const actual = decide();
              assert.deepStrictEqual(actual, expected);
              assert.deepStrictEqual(decide(), actual, 'decide must be deterministic');
              return fold(state, actual);
            },
            thenThrows(errorClass, ...patterns) {
              let caught: unknown;
              try {
                const events = decide();
                assert.fail(`expected ${errorClass.name}, got events ${JSON.stringify(events)}`);
              } catch (error) {
                caught = error;
              }
              assert.ok(caught instanceof Error, `expected an Error, got ${String(caught)}`);
              if (caught instanceof assert.AssertionError) throw caught;
              assert.equal(caught.constructor, errorClass, `expected ${errorClass.name}, got ${caught.constructor.name}: ${caught.message}`);
              for (const pattern of patterns) assert.match(caught.message, pattern);
              return caught;
            },
          };
        },
      };
    },
  };
}

/** Freezes a value and everything reachable from it; returns it for chaining. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<string | symbol, unknown>)[key]);
  }
  return value;
}
