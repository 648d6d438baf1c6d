import { describe, expect, it } from 'vitest';
import { checkLinearizability, keyValueModel, type KeyValueInput, type KeyValueOperation, type KeyValueOutput } from './linearizability.ts';

function operation(clientId: number, input: KeyValueInput, output: KeyValueOutput | undefined, callTime: number, returnTime = Infinity): KeyValueOperation {
  return { clientId, input, output, callTime, returnTime: output === undefined ? Infinity : returnTime };
}

const put = (key: string, value: string): KeyValueInput => ({ kind: 'put', key, value });
const get = (key: string): KeyValueInput => ({ kind: 'get', key });
const cas = (key: string, expected: string | undefined, value: string): KeyValueInput => ({ kind: 'cas', key, expected, value });
const done: KeyValueOutput = { done: true };
const value = (text: string | null): KeyValueOutput => ({ value: text });
const swapped = (result: boolean): KeyValueOutput => ({ swapped: result });

function check(history: KeyValueOperation[]): string {
  return checkLinearizability(keyValueModel, history).result;
}

describe('linearizability checker (key-value register)', () => {
  it('accepts a sequential history and rejects a read of a value never written', () => {
    expect(check([operation(1, put('x', 'a'), done, 0, 1), operation(1, get('x'), value('a'), 2, 3)])).toBe('linearizable');
    expect(check([operation(1, put('x', 'a'), done, 0, 1), operation(1, get('x'), value('b'), 2, 3)])).toBe('not-linearizable');
  });

  it('lets concurrent operations take effect in either order', () => {
    const history = [
      operation(1, put('x', 'a'), done, 0, 10),
      operation(2, get('x'), value('a'), 1, 2),
      operation(3, get('x'), value(null), 3, 4),
    ];
    // The second read returned the initial value after the first saw 'a': no order explains it.
    expect(check(history)).toBe('not-linearizable');
    expect(check(history.slice(0, 2))).toBe('linearizable');
    expect(check([operation(1, put('x', 'a'), done, 0, 10), operation(2, get('x'), value(null), 1, 2)])).toBe('linearizable');
  });

  it('rejects a stale read after a completed write (the bug a deposed leader causes)', () => {
    const history = [
      operation(1, put('x', 'a'), done, 0, 1),
      operation(1, put('x', 'b'), done, 2, 3),
      operation(2, get('x'), value('a'), 4, 5),
    ];
    expect(check(history)).toBe('not-linearizable');
  });

  it('checks compare-and-set outcomes', () => {
    expect(
      check([
        operation(1, put('x', 'a'), done, 0, 1),
        operation(2, cas('x', 'a', 'b'), swapped(true), 2, 5),
        operation(3, cas('x', 'a', 'c'), swapped(true), 3, 6),
      ]),
    ).toBe('not-linearizable'); // both cannot swap from 'a'
    expect(
      check([
        operation(1, put('x', 'a'), done, 0, 1),
        operation(2, cas('x', 'a', 'b'), swapped(true), 2, 5),
        operation(3, cas('x', 'a', 'c'), swapped(false), 3, 6),
        operation(4, get('x'), value('b'), 7, 8),
      ]),
    ).toBe('linearizable');
  });

  it('treats an operation that never returned as possibly applied, at any point after its call', () => {
    const applied = [operation(1, put('x', 'a'), undefined, 0), operation(2, get('x'), value('a'), 5, 6), operation(2, get('x'), value('a'), 7, 8)];
    expect(check(applied)).toBe('linearizable');
    const notApplied = [operation(1, put('x', 'a'), undefined, 0), operation(2, get('x'), value(null), 5, 6)];
    expect(check(notApplied)).toBe('linearizable');
    const flipFlop = [operation(1, put('x', 'a'), undefined, 0), operation(2, get('x'), value('a'), 5, 6), operation(2, get('x'), value(null), 7, 8)];
    expect(check(flipFlop)).toBe('not-linearizable');
  });

  it('checks keys independently, and reports which part failed', () => {
    const history = [
      operation(1, put('x', 'a'), done, 0, 1),
      operation(1, put('y', 'b'), done, 0, 1),
      operation(2, get('y'), value('b'), 2, 3),
      operation(2, get('x'), value('zzz'), 2, 3),
    ];
    const outcome = checkLinearizability(keyValueModel, history);
    expect(outcome.result).toBe('not-linearizable');
    expect(outcome.failingPart).toBe(0); // keys sorted: 'x' first
  });

  it('says unknown, not a wrong answer, when the search budget runs out', () => {
    const history: KeyValueOperation[] = [];
    for (let client = 0; client < 12; client++) history.push(operation(client, put('x', `v${client}`), done, 0, 100));
    history.push(operation(99, get('x'), value('nope'), 101, 102));
    expect(checkLinearizability(keyValueModel, history, 50).result).toBe('unknown');
    expect(checkLinearizability(keyValueModel, history).result).toBe('not-linearizable');
  });

  it('handles a few hundred concurrent operations quickly', () => {
    const history: KeyValueOperation[] = [];
    let time = 0;
    let current: string | null = null;
    for (let round = 0; round < 300; round++) {
      const written = `v${round}`;
      history.push(operation(round % 5, put('x', written), done, time, time + 3));
      current = written;
      history.push(operation((round + 1) % 5, get('x'), value(current), time + 2, time + 4));
      time += 5;
    }
    expect(check(history)).toBe('linearizable');
  });
});
