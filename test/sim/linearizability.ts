/**
 * A linearizability checker for histories of concurrent operations (Wing & Gong's search with
 * Lowe's memoization, and P-compositionality: a history is linearizable if and only if each
 * independent part of it is, so a key-value history is checked one key at a time, as Porcupine
 * does).
 *
 * A history is a list of operations, each with the interval in which it happened (call and
 * return times on one clock). An operation that never returned (its client gave up, its node
 * crashed) has `returnTime: Infinity` and an unknown output: it may or may not have taken effect.
 *
 * The search linearizes operations one at a time, always choosing among those whose call comes
 * before the earliest pending return, and backtracks when an operation's output disagrees with
 * the model. Memoizing (set of linearized operations, model state) makes it practical; a step
 * budget bounds it, and exhausting the budget gives `unknown`, never a wrong answer.
 */

export interface Operation<Input, Output> {
  readonly clientId: number;
  readonly input: Input;
  /** Undefined when the operation never returned. */
  readonly output: Output | undefined;
  readonly callTime: number;
  /** `Infinity` when the operation never returned. */
  readonly returnTime: number;
}

export interface Model<State, Input, Output> {
  initialState(): State;
  /**
   * Applies `input` to `state`. Returns the next state if `output` is what the operation could
   * have returned from `state` (an undefined output, of an operation that never returned, always
   * fits), or undefined if it could not.
   */
  step(state: State, input: Input, output: Output | undefined): State | undefined;
  /** A string equal for equal states, for memoization. */
  stateKey(state: State): string;
  /** Splits a history into independent parts (e.g. one per key); default: one part. */
  partition?(history: readonly Operation<Input, Output>[]): Array<Array<Operation<Input, Output>>>;
}

export type CheckResult = 'linearizable' | 'not-linearizable' | 'unknown';

export interface CheckOutcome {
  readonly result: CheckResult;
  /** For a part that is not linearizable: how many of its operations the search managed to order. */
  readonly longestPrefix: number;
  /** The operations of the first part that is not linearizable (or unknown). */
  readonly failingPart: number | undefined;
}

/** Bounds the search per part; exhaustive search is exponential in the worst case. */
export const SEARCH_STEPS_MAX = 2_000_000;

export function checkLinearizability<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  searchStepsMax = SEARCH_STEPS_MAX,
): CheckOutcome {
  const parts = model.partition?.(history) ?? [[...history]];
  let unknownPart: number | undefined;
  for (const [index, part] of parts.entries()) {
    const { result, longestPrefix } = checkPart(model, part, searchStepsMax);
    if (result === 'not-linearizable') return { result, longestPrefix, failingPart: index };
    if (result === 'unknown' && unknownPart === undefined) unknownPart = index;
  }
  if (unknownPart !== undefined) return { result: 'unknown', longestPrefix: 0, failingPart: unknownPart };
  return { result: 'linearizable', longestPrefix: history.length, failingPart: undefined };
}

/** One event of the doubly linked list the search walks: an operation's call or its return. */
interface Event {
  readonly operation: number;
  readonly isCall: boolean;
  /** For a call: its return event. */
  match: Event | undefined;
  previous: Event | undefined;
  next: Event | undefined;
}

function checkPart<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  searchStepsMax: number,
): { result: CheckResult; longestPrefix: number } {
  const head = buildEventList(operations);
  const linearized = new Uint8Array(operations.length);
  const visited = new Set<string>();
  const stack: Array<{ call: Event; state: State }> = [];
  let state = model.initialState();
  let event = head.next;
  let longestPrefix = 0;
  for (let steps = 0; event !== undefined; steps++) {
    if (steps >= searchStepsMax) return { result: 'unknown', longestPrefix };
    if (event.isCall) {
      const operation = operations[event.operation]!;
      const nextState = model.step(state, operation.input, operation.output);
      if (nextState !== undefined) {
        linearized[event.operation] = 1;
        const key = `${model.stateKey(nextState)}|${linearized.join('')}`;
        if (!visited.has(key)) {
          visited.add(key);
          stack.push({ call: event, state });
          state = nextState;
          longestPrefix = Math.max(longestPrefix, stack.length);
          lift(event);
          event = head.next;
          continue;
        }
        linearized[event.operation] = 0;
      }
      event = event.next;
      continue;
    }
    // A return whose call is not linearized: nothing before it can be chosen next. Backtrack.
    const top = stack.pop();
    if (top === undefined) return { result: 'not-linearizable', longestPrefix };
    state = top.state;
    linearized[top.call.operation] = 0;
    unlift(top.call);
    event = top.call.next;
  }
  return { result: 'linearizable', longestPrefix: operations.length };
}

/**
 * Calls and returns in time order; at equal times calls come first, so operations that touch
 * at an instant count as concurrent (the lenient reading). Returns a sentinel head.
 */
function buildEventList<Input, Output>(operations: readonly Operation<Input, Output>[]): Event {
  const events: Array<{ time: number; event: Event }> = [];
  for (const [index, operation] of operations.entries()) {
    const call: Event = { operation: index, isCall: true, match: undefined, previous: undefined, next: undefined };
    const returned: Event = { operation: index, isCall: false, match: undefined, previous: undefined, next: undefined };
    call.match = returned;
    events.push({ time: operation.callTime, event: call }, { time: operation.returnTime, event: returned });
  }
  events.sort((a, b) => a.time - b.time || Number(b.event.isCall) - Number(a.event.isCall) || a.event.operation - b.event.operation);
  const head: Event = { operation: -1, isCall: false, match: undefined, previous: undefined, next: undefined };
  let last = head;
  for (const { event } of events) {
    last.next = event;
    event.previous = last;
    last = event;
  }
  return head;
}

/** Removes an operation's call and return from the list (it is linearized). */
function lift(call: Event): void {
  call.previous!.next = call.next;
  if (call.next !== undefined) call.next.previous = call.previous;
  const returned = call.match!;
  returned.previous!.next = returned.next;
  if (returned.next !== undefined) returned.next.previous = returned.previous;
}

/** Puts them back, in the reverse order of `lift`. */
function unlift(call: Event): void {
  const returned = call.match!;
  returned.previous!.next = returned;
  if (returned.next !== undefined) returned.next.previous = returned;
  call.previous!.next = call;
  if (call.next !== undefined) call.next.previous = call;
}

// -----------------------------------------------------------------------------------------------
// A key-value register model: put, get and compare-and-set per key.

export type KeyValueInput =
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'cas'; readonly key: string; readonly expected: string | undefined; readonly value: string };

/** `get` returns the value (undefined: absent, as `null` here); `cas` whether it swapped; `put` nothing. */
export type KeyValueOutput = { readonly value: string | null } | { readonly swapped: boolean } | { readonly done: true };

export type KeyValueOperation = Operation<KeyValueInput, KeyValueOutput>;

/** The state of one key (checked per key); `null` is absent. */
export const keyValueModel: Model<string | null, KeyValueInput, KeyValueOutput> = {
  initialState: () => null,
  step(state, input, output) {
    switch (input.kind) {
      case 'put':
        return input.value;
      case 'get':
        if (output === undefined) return state;
        return 'value' in output && output.value === state ? state : undefined;
      case 'cas': {
        const swapped = state === (input.expected ?? null);
        if (output !== undefined && (!('swapped' in output) || output.swapped !== swapped)) return undefined;
        return swapped ? input.value : state;
      }
    }
  },
  stateKey: (state) => (state === null ? '\u0000' : state),
  partition(history) {
    const byKey = new Map<string, KeyValueOperation[]>();
    for (const operation of history) {
      const part = byKey.get(operation.input.key);
      if (part === undefined) byKey.set(operation.input.key, [operation]);
      else part.push(operation);
    }
    return [...byKey.keys()].sort().map((key) => byKey.get(key)!);
  },
};
