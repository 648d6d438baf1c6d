import { ProposalDroppedError, type RawNode, type ReadState, type SeededRandom } from '../../kernel/raft/index.ts';
import type { KeyValueInput, KeyValueOperation, KeyValueOutput } from '../sim/linearizability.ts';

/**
 * Clients of a simulated Raft group that use it as a key-value store, and the history of what
 * they saw, for the linearizability checker.
 *
 * Each of a few clients has one request outstanding at a time and gives up after a timeout.
 * - A write (put or compare-and-set) is proposed at some node and returns when that same node,
 *   in the same incarnation, applies it; if the node crashes first, the write never returns and
 *   may or may not have taken effect (see `history()`). A refused proposal is not recorded.
 * - A read asks some node for a read index (ReadIndex) and returns that node's value once it
 *   has applied up to the index. A read that never returns constrains nothing and is not recorded.
 */

/** The payload of a client write, as JSON in a normal entry. */
export interface ClientCommand {
  readonly id: string;
  readonly kind: 'put' | 'cas';
  readonly key: string;
  readonly value: string;
  /** For `cas`: the value expected, null for absent. */
  readonly expected: string | null;
}

/** What the clients need of a simulated node. */
export interface ClientNode {
  readonly id: number;
  readonly incarnation: number;
  readonly keyValues: ReadonlyMap<string, string>;
  readonly appliedIndex: number;
  readonly raw: RawNode | undefined;
}

interface MutableOperation {
  clientId: number;
  /** For a write: the id of its command (and the value it writes). */
  commandId: string;
  input: KeyValueInput;
  output: KeyValueOutput | undefined;
  callTime: number;
  returnTime: number;
}

interface PendingRequest {
  readonly nodeId: number;
  readonly incarnation: number;
  readonly operation: MutableOperation;
  readonly key: string;
  /** For a read: the read index, once the node has it. */
  index: number | undefined;
  readonly client: number;
}

const KEYS = ['a', 'b', 'c'];

/**
 * Clients are closed-loop, one request at a time each, as real clients mostly are: this bounds
 * the concurrency of the history, and with it the checker's search, which is exponential in it.
 */
const CLIENTS = 5;

/** A client gives up on a request after this many steps (the request may still take effect). */
const CLIENT_TIMEOUT_STEPS = 300;
const READ_CONTEXT_PREFIX = 'client-read-';

export class KeyValueClients {
  private readonly operations: MutableOperation[] = [];
  private readonly pendingWrites = new Map<string, PendingRequest>();
  private readonly pendingReads = new Map<string, PendingRequest>();
  /** When each command was first applied anywhere, and whether a compare-and-set swapped. */
  private readonly firstApplied = new Map<string, { time: number; swapped: boolean }>();
  private counter = 0;
  /** Per client: the request it waits for, or undefined when idle. */
  private readonly waiting: Array<{ since: number; write: string | undefined; read: string | undefined } | undefined> = new Array(CLIENTS).fill(undefined);

  /** An idle client, after abandoning requests that timed out; undefined when all are busy. */
  private idleClient(time: number): number | undefined {
    for (let client = 0; client < CLIENTS; client++) {
      const waiting = this.waiting[client];
      if (waiting !== undefined && time - waiting.since > CLIENT_TIMEOUT_STEPS) {
        // The write stays in the history, to be settled from the log; the read is forgotten.
        if (waiting.write !== undefined) this.pendingWrites.delete(waiting.write);
        if (waiting.read !== undefined) this.pendingReads.delete(waiting.read);
        this.waiting[client] = undefined;
      }
    }
    const idle = this.waiting.findIndex((waiting) => waiting === undefined);
    return idle < 0 ? undefined : idle;
  }

  write(node: ClientNode, random: SeededRandom, time: number): void {
    const client = this.idleClient(time);
    if (client === undefined) return;
    const number = ++this.counter;
    const key = KEYS[random.integerBelow(KEYS.length)]!;
    const id = `op-${number}`;
    const kind = random.fraction() < 0.5 ? 'put' : 'cas';
    // Guess the current value from the node's (possibly stale) view, or pick an older write.
    const expected = random.fraction() < 0.6 ? (node.keyValues.get(key) ?? null) : `op-${random.integerBelow(number)}`;
    const command: ClientCommand = { id, kind, key, value: id, expected: kind === 'cas' ? expected : null };
    try {
      node.raw!.propose(new TextEncoder().encode(JSON.stringify(command)));
    } catch (error) {
      if (error instanceof ProposalDroppedError) return;
      throw error;
    }
    const input: KeyValueInput =
      kind === 'put' ? { kind: 'put', key, value: id } : { kind: 'cas', key, expected: command.expected ?? undefined, value: id };
    const operation: MutableOperation = { clientId: client, commandId: id, input, output: undefined, callTime: time, returnTime: Infinity };
    this.operations.push(operation);
    this.pendingWrites.set(id, { nodeId: node.id, incarnation: node.incarnation, operation, key, index: undefined, client });
    this.waiting[client] = { since: time, write: id, read: undefined };
  }

  /** A node applied a client command: if that node took the request, the write returns. */
  applied(node: ClientNode, command: ClientCommand, swapped: boolean, time: number): void {
    if (!this.firstApplied.has(command.id)) this.firstApplied.set(command.id, { time, swapped });
    const pending = this.pendingWrites.get(command.id);
    if (pending === undefined || pending.nodeId !== node.id || pending.incarnation !== node.incarnation) return;
    pending.operation.output = command.kind === 'put' ? { done: true } : { swapped };
    pending.operation.returnTime = time;
    this.pendingWrites.delete(command.id);
    this.waiting[pending.client] = undefined;
  }

  read(node: ClientNode, random: SeededRandom, time: number): void {
    const client = this.idleClient(time);
    if (client === undefined) return;
    const key = KEYS[random.integerBelow(KEYS.length)]!;
    const context = `${READ_CONTEXT_PREFIX}${++this.counter}`;
    try {
      node.raw!.readIndex(context);
    } catch (error) {
      if (error instanceof ProposalDroppedError) return;
      throw error;
    }
    const operation: MutableOperation = { clientId: client, commandId: '', input: { kind: 'get', key }, output: undefined, callTime: time, returnTime: Infinity };
    this.pendingReads.set(context, { nodeId: node.id, incarnation: node.incarnation, operation, key, index: undefined, client });
    this.waiting[client] = { since: time, write: undefined, read: context };
  }

  ownsRead(context: string): boolean {
    return context.startsWith(READ_CONTEXT_PREFIX);
  }

  readIndexKnown(node: ClientNode, state: ReadState, time: number): void {
    const pending = this.pendingReads.get(state.context);
    if (pending === undefined || pending.nodeId !== node.id || pending.incarnation !== node.incarnation) return;
    pending.index ??= state.index;
    this.answerReads(node, time);
  }

  /** Answers the reads waiting at `node` whose read index it has now applied. */
  answerReads(node: ClientNode, time: number): void {
    for (const [context, pending] of this.pendingReads) {
      if (pending.nodeId !== node.id || pending.incarnation !== node.incarnation) continue;
      if (pending.index === undefined || node.appliedIndex < pending.index) continue;
      pending.operation.output = { value: node.keyValues.get(pending.key) ?? null };
      pending.operation.returnTime = time;
      this.operations.push(pending.operation);
      this.pendingReads.delete(context);
      this.waiting[pending.client] = undefined;
    }
  }

  /**
   * The history to check. A write that never returned is settled from the log: if no node ever
   * applied it, it never took effect and is left out; if one did, it took effect (with the
   * outcome every node computes alike) no later than the first application anywhere, which
   * becomes its return time. Without this, every lost write would be concurrent with all that
   * follows it, and the search would grow exponentially with their number.
   */
  history(): KeyValueOperation[] {
    const settled: KeyValueOperation[] = [];
    for (const operation of this.operations) {
      if (operation.output !== undefined) {
        settled.push(operation);
        continue;
      }
      const first = this.firstApplied.get(operation.commandId);
      if (first === undefined) continue;
      const output: KeyValueOutput = operation.input.kind === 'cas' ? { swapped: first.swapped } : { done: true };
      settled.push({ ...operation, output, returnTime: first.time });
    }
    return settled;
  }

  /** The operations on the key of part `part` (keys in sorted order), for a failure message. */
  describe(part: number | undefined): string {
    const keys = [...new Set(this.operations.map((operation) => operation.input.key))].sort();
    const key = part === undefined ? undefined : keys[part];
    return this.operations
      .filter((operation) => operation.input.key === key)
      .map((operation) => `[${operation.callTime}, ${operation.returnTime}] ${JSON.stringify(operation.input)} -> ${JSON.stringify(operation.output)}`)
      .join('; ');
  }
}
