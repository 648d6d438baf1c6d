import {
  decodeConfChange,
  MemoryRaftStorage,
  ProposalDroppedError,
  RawNode,
  SeededRandom,
  type ConfChange,
  type ConfChangeBatch,
  type ConfChangeTransition,
  type ConfChangeType,
  type ConfState,
  type Message,
  type NodeId,
  type RaftConfig,
  type Ready,
} from '../../kernel/raft/index.ts';
import { describeEntry, describeMessage, describeReady, describeStatus } from './describe.ts';

/**
 * Runs Raft scenario scripts in the style of etcd-raft's interaction tests: a script is a list
 * of commands, each followed by `----` and the transcript it must produce. Blank lines separate
 * commands; lines starting with `#` before a command are comments. Transcripts never contain
 * blank lines (an empty result prints `ok`).
 *
 * Commands (ids are node ids; `[...]` is optional):
 *   add-nodes <count> [voters=(1 2 3)] [learners=(4)] [index=<i>] [prevote=true] [checkquorum=true]
 *             [read-only=lease-based] [inflight=<n>] [max-message-bytes=<n>] [commit-propagation=lazy]
 *       Starts `count` nodes with the next ids. With voters, each starts from a bootstrap snapshot
 *       at `index` (default 1) holding that membership; without, with an empty log (to be added later).
 *   campaign <id> | tick <id> [count] | tick-heartbeat <id> | tick-election <id>
 *   propose <id> <text> | propose-conf-change <id> add-voter|add-learner|remove-node <node> [...]
 *       [transition=auto|joint-implicit|joint-explicit] | propose-conf-change <id> leave-joint
 *   read-index <id> <context> | transfer-leadership <id> <transferee> | report-unreachable <id> <peer>
 *   process-ready <id...> | deliver-msgs <id...> | drop-msgs <id...> (or drop) | stabilize [id...]
 *   isolate <id> | partition (1 2) (3) | heal | crash <id> | restart <id>
 *   snapshot <id> (at its applied index) | compact <id> <index>
 *   status <id> | raft-log <id> | raft-state | applied <id>
 *   log-level none|info: with none, commands other than the queries above print nothing (`ok`)
 *
 * Messages a node sends wait in the recipient's inbox until `deliver-msgs` (or `stabilize`);
 * messages to or from an isolated or crashed node are dropped when sent.
 */

const STABILIZE_ROUNDS_MAX = 200;
const QUERY_COMMANDS = new Set(['status', 'raft-log', 'raft-state', 'applied', 'snapshot']);
const ENTRIES_SIZE_BYTES_UNLIMITED = Number.MAX_SAFE_INTEGER;
const ELECTION_TIMEOUT_TICKS = 10;
const HEARTBEAT_INTERVAL_TICKS = 1;

interface ScenarioNode {
  readonly id: NodeId;
  readonly storage: MemoryRaftStorage;
  readonly options: NodeOptions;
  raw: RawNode | undefined;
  /** The state machine: payloads of applied normal entries, in order. */
  applied: string[];
  confState: ConfState;
  inbox: Message[];
}

interface NodeOptions {
  preVote: boolean;
  checkQuorum: boolean;
  readOnly: 'safe' | 'lease-based';
  commitPropagation: 'eager' | 'lazy';
  inflightMessagesMax: number | undefined;
  messageEntriesSizeBytesMax: number | undefined;
}

export interface ScenarioCommand {
  /** Lines before the command (comments, blank lines), kept when rewriting. */
  readonly preamble: string[];
  readonly line: string;
  readonly expected: string;
  /** 1-based line number of the command in the script. */
  readonly lineNumber: number;
}

export function parseScenario(text: string): { commands: ScenarioCommand[]; trailer: string[] } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const commands: ScenarioCommand[] = [];
  let preamble: string[] = [];
  let position = 0;
  while (position < lines.length) {
    const line = lines[position]!;
    if (line.trim() === '' || line.startsWith('#')) {
      preamble.push(line);
      position++;
      continue;
    }
    const lineNumber = position + 1;
    if (lines[position + 1] !== '----') throw new Error(`line ${lineNumber + 1}: expected ---- after the command "${line}"`);
    position += 2;
    const output: string[] = [];
    while (position < lines.length && lines[position]!.trim() !== '') output.push(lines[position++]!);
    commands.push({ preamble, line, expected: output.join('\n'), lineNumber });
    preamble = [];
  }
  return { commands, trailer: preamble };
}

export interface ScenarioResult {
  /** The script with every transcript replaced by what the run produced. */
  readonly actualText: string;
  readonly mismatches: Array<{ lineNumber: number; line: string; expected: string; actual: string }>;
}

export function runScenario(text: string): ScenarioResult {
  const { commands, trailer } = parseScenario(text);
  const interpreter = new ScenarioInterpreter();
  const parts: string[] = [];
  const mismatches: ScenarioResult['mismatches'] = [];
  for (const command of commands) {
    let actual: string;
    try {
      const lines = interpreter.run(command.line);
      actual = lines.length === 0 ? 'ok' : lines.join('\n');
    } catch (error) {
      throw new Error(`line ${command.lineNumber} "${command.line}": ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    parts.push(...command.preamble, command.line, '----', actual);
    if (actual !== command.expected) mismatches.push({ lineNumber: command.lineNumber, line: command.line, expected: command.expected, actual });
  }
  parts.push(...trailer);
  return { actualText: `${parts.join('\n')}\n`, mismatches };
}

class ScenarioInterpreter {
  private readonly nodes = new Map<NodeId, ScenarioNode>();
  private readonly isolated = new Set<NodeId>();
  /** Directed cuts between partition groups: `${from}>${to}`. */
  private readonly cuts = new Set<string>();
  private output: string[] = [];
  private indent = '';
  private logging = true;

  run(line: string): string[] {
    this.output = [];
    const [name, ...args] = tokenize(line);
    this.runCommand(name, args);
    // With `log-level none`, only the commands that exist to show state print anything.
    if (!this.logging && !QUERY_COMMANDS.has(name ?? '')) this.output = [];
    return this.output;
  }

  private runCommand(name: string | undefined, args: string[]): void {
    const ids = (): NodeId[] => args.map((arg) => this.nodeId(arg));
    switch (name) {
      case 'add-nodes':
        this.addNodes(args);
        break;
      case 'campaign':
        this.withLogs(ids()[0]!, (raw) => raw.campaign());
        break;
      case 'tick':
        this.tick(this.nodeId(args[0]), Number(args[1] ?? 1));
        break;
      case 'tick-heartbeat':
        this.tick(this.nodeId(args[0]), HEARTBEAT_INTERVAL_TICKS);
        break;
      case 'tick-election': {
        const status = this.rawNode(this.nodeId(args[0])).status();
        this.tick(status.id, status.electionTimeoutTicks - status.electionElapsedTicks);
        break;
      }
      case 'propose':
        this.request(this.nodeId(args[0]), (raw) => raw.propose(new TextEncoder().encode(args.slice(1).join(' '))));
        break;
      case 'propose-conf-change':
        this.request(this.nodeId(args[0]), (raw) => raw.proposeConfChange(this.parseConfChange(args.slice(1))));
        break;
      case 'read-index':
        this.request(this.nodeId(args[0]), (raw) => raw.readIndex(args[1] ?? ''));
        break;
      case 'transfer-leadership':
        this.request(this.nodeId(args[0]), (raw) => raw.transferLeadership(this.nodeId(args[1])));
        break;
      case 'report-unreachable':
        this.withLogs(this.nodeId(args[0]), (raw) => raw.reportUnreachable(this.nodeId(args[1])));
        break;
      case 'process-ready':
        for (const id of ids()) this.processReady(id);
        break;
      case 'deliver-msgs':
        for (const id of ids()) this.deliver(id);
        break;
      case 'drop':
      case 'drop-msgs':
        for (const id of ids()) this.dropInbox(id);
        break;
      case 'stabilize':
        this.stabilize(args.length > 0 ? ids() : [...this.nodes.keys()]);
        break;
      case 'isolate':
        this.isolated.add(this.nodeId(args[0]));
        break;
      case 'partition':
        this.partition(args);
        break;
      case 'heal':
        this.isolated.clear();
        this.cuts.clear();
        break;
      case 'crash':
        this.crash(this.nodeId(args[0]));
        break;
      case 'restart':
        this.restart(this.nodeId(args[0]));
        break;
      case 'snapshot':
        this.snapshot(this.nodeId(args[0]));
        break;
      case 'compact':
        this.node(this.nodeId(args[0])).storage.compactSynchronously(Number(args[1]));
        break;
      case 'status':
        this.output.push(...describeStatus(this.rawNode(this.nodeId(args[0])).status()));
        break;
      case 'raft-log':
        this.raftLog(this.nodeId(args[0]));
        break;
      case 'raft-state':
        this.raftState();
        break;
      case 'applied': {
        const node = this.node(this.nodeId(args[0]));
        this.output.push(node.applied.length === 0 ? '(nothing applied)' : node.applied.join(' '));
        break;
      }
      case 'log-level':
        this.logging = args[0] !== 'none';
        break;
      default:
        throw new Error(`unknown command "${name}"`);
    }
  }

  private addNodes(args: string[]): void {
    const count = Number(args[0]);
    const options = parseOptions(args.slice(1));
    const voters = listOption(options.get('voters'));
    const learners = listOption(options.get('learners'));
    const index = Number(options.get('index') ?? 1);
    const nodeOptions: NodeOptions = {
      preVote: options.get('prevote') === 'true',
      checkQuorum: options.get('checkquorum') === 'true',
      readOnly: options.get('read-only') === 'lease-based' ? 'lease-based' : 'safe',
      commitPropagation: options.get('commit-propagation') === 'lazy' ? 'lazy' : 'eager',
      inflightMessagesMax: options.has('inflight') ? Number(options.get('inflight')) : undefined,
      messageEntriesSizeBytesMax: options.has('max-message-bytes') ? Number(options.get('max-message-bytes')) : undefined,
    };
    const firstId = Math.max(0, ...this.nodes.keys()) + 1;
    for (let id = firstId; id < firstId + count; id++) {
      const confState: ConfState = { voters, learners };
      const storage = voters.length > 0 ? new MemoryRaftStorage({ confState, bootstrapIndex: index }) : new MemoryRaftStorage();
      const node: ScenarioNode = { id, storage, options: nodeOptions, raw: undefined, applied: [], confState: storage.snapshot().metadata.confState, inbox: [] };
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  private start(node: ScenarioNode): void {
    const snapshot = node.storage.snapshot();
    const config: RaftConfig = {
      id: node.id,
      storage: node.storage,
      random: new SeededRandom(node.id),
      electionTimeoutTicks: ELECTION_TIMEOUT_TICKS,
      heartbeatIntervalTicks: HEARTBEAT_INTERVAL_TICKS,
      applied: snapshot.metadata.index,
      preVote: node.options.preVote,
      checkQuorum: node.options.checkQuorum,
      readOnly: node.options.readOnly,
      commitPropagation: node.options.commitPropagation,
      logger: { info: (line) => this.log(line) },
    };
    if (node.options.inflightMessagesMax !== undefined) config.inflightMessagesMax = node.options.inflightMessagesMax;
    if (node.options.messageEntriesSizeBytesMax !== undefined) config.messageEntriesSizeBytesMax = node.options.messageEntriesSizeBytesMax;
    node.applied = decodeStateMachine(snapshot.data);
    node.confState = snapshot.metadata.confState;
    node.raw = new RawNode(config);
  }

  private log(line: string): void {
    if (this.logging) this.output.push(`${this.indent}${line}`);
  }

  private withLogs(id: NodeId, action: (raw: RawNode) => void): void {
    action(this.rawNode(id));
  }

  private request(id: NodeId, action: (raw: RawNode) => void): void {
    try {
      action(this.rawNode(id));
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
      this.output.push(`error: ${error.message}`);
    }
  }

  private tick(id: NodeId, count: number): void {
    const raw = this.rawNode(id);
    for (let tick = 0; tick < count; tick++) raw.tick();
  }

  private stabilize(ids: NodeId[]): void {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      let busy = false;
      for (const id of ids) {
        const node = this.node(id);
        if (node.raw !== undefined && node.raw.hasReady()) {
          this.processReady(id);
          busy = true;
        }
      }
      for (const id of ids) {
        if (this.node(id).inbox.length > 0) {
          this.deliver(id);
          busy = true;
        }
      }
      if (!busy) return;
    }
    throw new Error(`stabilize did not settle within ${STABILIZE_ROUNDS_MAX} rounds`);
  }

  /** Does what a Ready says, in the order raw-node.ts prescribes. */
  private processReady(id: NodeId): void {
    const node = this.node(id);
    const raw = this.rawNode(id);
    if (!raw.hasReady()) return;
    const ready = raw.ready();
    this.output.push(`> ${id} handling Ready`);
    this.indent = '  ';
    this.output.push(...describeReady(ready).map((line) => `  ${line}`));
    this.persist(node, ready);
    for (const message of ready.messages) this.send(message);
    this.apply(node, raw, ready);
    raw.advance();
    this.indent = '';
  }

  private persist(node: ScenarioNode, ready: Ready): void {
    if (ready.snapshot !== undefined) node.storage.applySnapshot(ready.snapshot);
    node.storage.append(ready.entries);
    if (ready.hardState !== undefined) node.storage.setHardState(ready.hardState);
  }

  private apply(node: ScenarioNode, raw: RawNode, ready: Ready): void {
    if (ready.snapshot !== undefined) {
      node.applied = decodeStateMachine(ready.snapshot.data);
      node.confState = ready.snapshot.metadata.confState;
    }
    for (const entry of ready.committedEntries) {
      if (entry.type === 'config-change') node.confState = raw.applyConfChange(decodeConfChange(entry.data));
      else if (entry.data.byteLength > 0) node.applied.push(new TextDecoder().decode(entry.data));
    }
  }

  private send(message: Message): void {
    const recipient = this.nodes.get(message.to);
    const reason =
      recipient === undefined ? `${message.to} does not exist`
      : this.isolated.has(message.from) || this.isolated.has(message.to) ? 'isolated'
      : this.cuts.has(`${message.from}>${message.to}`) ? 'partitioned'
      : recipient.raw === undefined ? `${message.to} is down`
      : undefined;
    if (reason === undefined) {
      recipient!.inbox.push(message);
      return;
    }
    this.output.push(`  dropped (${reason}): ${describeMessage(message)}`);
    if (message.type === 'snapshot') this.reportSnapshot(message, 'failed');
  }

  private reportSnapshot(message: Message, status: 'finished' | 'failed'): void {
    const sender = this.nodes.get(message.from)?.raw;
    if (sender === undefined) return;
    const saved = this.indent;
    this.indent = '  ';
    sender.reportSnapshot(message.to, status);
    this.indent = saved;
  }

  private deliver(id: NodeId): void {
    const node = this.node(id);
    const messages = node.inbox;
    node.inbox = [];
    if (messages.length === 0) return;
    this.output.push(`> ${id} receiving messages`);
    for (const message of messages) {
      this.output.push(`  ${describeMessage(message)}`);
      this.indent = '    ';
      this.rawNode(id).step(message);
      if (message.type === 'snapshot') this.reportSnapshot(message, 'finished');
      this.indent = '';
    }
  }

  private dropInbox(id: NodeId): void {
    const node = this.node(id);
    for (const message of node.inbox) {
      this.output.push(`dropped: ${describeMessage(message)}`);
      if (message.type === 'snapshot') this.reportSnapshot(message, 'failed');
    }
    node.inbox = [];
  }

  /** Loses everything not persisted: the node's memory and its inbox. Storage survives. */
  /** `partition (1 2) (3)`: no message crosses between groups; nodes in no group are unaffected. */
  private partition(args: string[]): void {
    const groups = args.map(listOption);
    for (const [position, group] of groups.entries()) {
      for (const [otherPosition, other] of groups.entries()) {
        if (position === otherPosition) continue;
        for (const from of group) for (const to of other) this.cuts.add(`${from}>${to}`);
      }
    }
  }

  private crash(id: NodeId): void {
    const node = this.node(id);
    node.raw = undefined;
    node.inbox = [];
    node.applied = [];
  }

  private restart(id: NodeId): void {
    const node = this.node(id);
    if (node.raw !== undefined) throw new Error(`node ${id} is running; crash it first`);
    this.start(node);
  }

  private snapshot(id: NodeId): void {
    const node = this.node(id);
    const status = this.rawNode(id).status();
    const snapshot = node.storage.createSnapshotSynchronously(status.applied, node.confState, encodeStateMachine(node.applied));
    this.output.push(`snapshot at ${snapshot.metadata.index}/${snapshot.metadata.term}`);
  }

  private raftLog(id: NodeId): void {
    const entries = this.rawNode(id).logEntries(ENTRIES_SIZE_BYTES_UNLIMITED);
    if (entries.length === 0) this.output.push('log is empty');
    for (const entry of entries) this.output.push(describeEntry(entry));
  }

  private raftState(): void {
    for (const node of this.nodes.values()) {
      if (node.raw === undefined) {
        this.output.push(`${node.id}: down`);
        continue;
      }
      const status = node.raw.status();
      this.output.push(`${node.id}: ${status.role} term=${status.term} leader=${status.leader} commit=${status.commit}${this.isolated.has(node.id) ? ' (isolated)' : ''}`);
    }
  }

  private node(id: NodeId): ScenarioNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  private rawNode(id: NodeId): RawNode {
    const raw = this.node(id).raw;
    if (raw === undefined) throw new Error(`node ${id} is down`);
    return raw;
  }

  /** `add-voter 4`, or several (`add-voter 4 remove-node 3 [transition=joint-explicit]`), or `leave-joint`. */
  private parseConfChange(args: string[]): ConfChange | ConfChangeBatch {
    if (args[0] === 'leave-joint') return { changes: [], transition: 'auto' };
    const transitionArgument = args.find((arg) => arg.startsWith('transition='));
    const pairs = args.filter((arg) => arg !== transitionArgument);
    const changes: ConfChange[] = [];
    for (let position = 0; position < pairs.length; position += 2) {
      changes.push({ type: pairs[position] as ConfChangeType, nodeId: this.nodeId(pairs[position + 1]) });
    }
    if (changes.length === 1 && transitionArgument === undefined) return changes[0]!;
    return { changes, transition: (transitionArgument?.slice('transition='.length) ?? 'auto') as ConfChangeTransition };
  }

  private nodeId(text: string | undefined): NodeId {
    const id = Number(text);
    if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`expected a node id, got "${text}"`);
    return id;
  }
}

function encodeStateMachine(applied: readonly string[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(applied));
}

function decodeStateMachine(data: Uint8Array): string[] {
  return data.byteLength === 0 ? [] : (JSON.parse(new TextDecoder().decode(data)) as string[]);
}

/** Splits a command line on spaces, keeping `key=(a b c)` lists together. */
function tokenize(line: string): string[] {
  const tokens: string[] = [];
  for (const match of line.matchAll(/[^\s(]+(\([^)]*\))?|\([^)]*\)/g)) tokens.push(match[0]);
  return tokens;
}

function parseOptions(args: string[]): Map<string, string> {
  const options = new Map<string, string>();
  for (const arg of args) {
    const separator = arg.indexOf('=');
    if (separator < 0) throw new Error(`expected key=value, got "${arg}"`);
    options.set(arg.slice(0, separator), arg.slice(separator + 1));
  }
  return options;
}

function listOption(value: string | undefined): NodeId[] {
  if (value === undefined) return [];
  return value
    .replace(/[()]/g, ' ')
    .split(/[\s,]+/)
    .filter((part) => part !== '')
    .map(Number);
}
