import {
  decodeConfChange,
  describeConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type RaftStatus,
  type Ready,
  type Snapshot,
} from '../../kernel/raft/index.ts';

/**
 * One-line descriptions of Raft values for scenario transcripts and failure messages. Indexes are
 * written `index/term`; entries as `index/term "text"` (the payload as UTF-8) or
 * `index/term conf add-voter 4` for membership changes.
 */

const decoder = new TextDecoder();

export function describeEntry(entry: Entry): string {
  const position = `${entry.index}/${entry.term}`;
  if (entry.type === 'config-change') return `${position} conf ${describeConfChange(decodeConfChange(entry.data))}`;
  return `${position} ${JSON.stringify(decoder.decode(entry.data))}`;
}

export function describeEntries(entries: readonly Entry[]): string {
  return `[${entries.map(describeEntry).join(', ')}]`;
}

export function describeHardState(state: HardState): string {
  return `term=${state.term} vote=${state.vote} commit=${state.commit}`;
}

export function describeConfState(state: ConfState): string {
  const outgoing = (state.votersOutgoing?.length ?? 0) > 0 ? `&&(${state.votersOutgoing!.join(' ')})` : '';
  const learners = state.learners.length > 0 ? ` learners=(${state.learners.join(' ')})` : '';
  const learnersNext = (state.learnersNext?.length ?? 0) > 0 ? ` learners-next=(${state.learnersNext!.join(' ')})` : '';
  const autoLeave = state.autoLeave === true ? ' auto-leave' : '';
  return `voters=(${state.voters.join(' ')})${outgoing}${learners}${learnersNext}${autoLeave}`;
}

export function describeSnapshot(snapshot: Snapshot): string {
  const { index, term, confState } = snapshot.metadata;
  return `${index}/${term} ${describeConfState(confState)}`;
}

export function describeMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type}`;
  switch (message.type) {
    case 'append':
      return `${head} term=${message.term} log=${message.logIndex}/${message.logTerm} commit=${message.commit}` +
        (message.entries.length > 0 ? ` entries=${describeEntries(message.entries)}` : '');
    case 'append-response':
      return message.reject
        ? `${head} term=${message.term} reject index=${message.index} hint=${message.rejectHint}/${message.hintTerm}`
        : `${head} term=${message.term} index=${message.index}`;
    case 'vote':
    case 'pre-vote':
      return `${head} term=${message.term} last=${message.lastLogIndex}/${message.lastLogTerm}${message.transfer ? ' transfer' : ''}`;
    case 'vote-response':
    case 'pre-vote-response':
      return `${head} term=${message.term} ${message.reject ? 'rejected' : 'granted'}`;
    case 'heartbeat':
      return `${head} term=${message.term} commit=${message.commit}${describeContext(message.context)}`;
    case 'heartbeat-response':
      return `${head} term=${message.term}${describeContext(message.context)}`;
    case 'snapshot':
      return `${head} term=${message.term} snapshot=${describeSnapshot(message.snapshot)}`;
    case 'propose':
      return `${head} entries=[${message.entries.map((entry) => (entry.type === 'config-change' ? `conf ${describeConfChange(decodeConfChange(entry.data))}` : JSON.stringify(decoder.decode(entry.data)))).join(', ')}]`;
    case 'read-index':
      return `${head}${describeContext(message.context)}`;
    case 'read-index-response':
      return `${head} term=${message.term} index=${message.index}${describeContext(message.context)}`;
    case 'transfer-leader':
      return `${head} term=${message.term} transferee=${message.transferee}`;
    case 'timeout-now':
      return `${head} term=${message.term}`;
  }
}

function describeContext(context: string | undefined): string {
  return context === undefined ? '' : ` context=${JSON.stringify(context)}`;
}

/** A Ready as indented lines (without the node header). */
export function describeReady(ready: Ready): string[] {
  const lines: string[] = [];
  if (ready.softState !== undefined) lines.push(`soft-state: role=${ready.softState.role} leader=${ready.softState.leader}`);
  if (ready.hardState !== undefined) lines.push(`hard-state: ${describeHardState(ready.hardState)}`);
  if (ready.snapshot !== undefined) lines.push(`snapshot: ${describeSnapshot(ready.snapshot)}`);
  if (ready.entries.length > 0) {
    lines.push('entries:');
    for (const entry of ready.entries) lines.push(`  ${describeEntry(entry)}`);
  }
  if (ready.committedEntries.length > 0) {
    lines.push('committed:');
    for (const entry of ready.committedEntries) lines.push(`  ${describeEntry(entry)}`);
  }
  if (ready.messages.length > 0) {
    lines.push('messages:');
    for (const message of ready.messages) lines.push(`  ${describeMessage(message)}`);
  }
  if (ready.readStates.length > 0) {
    lines.push('read-states:');
    for (const state of ready.readStates) lines.push(`  index=${state.index} context=${JSON.stringify(state.context)}`);
  }
  return lines;
}

export function describeStatus(status: RaftStatus): string[] {
  const lines = [
    `${status.id} ${status.role} term=${status.term} vote=${status.vote} leader=${status.leader} ` +
      `commit=${status.commit} applied=${status.applied} log=[${status.firstIndex}, ${status.lastIndex}] ${describeConfState(status.confState)}`,
  ];
  if (status.leadTransferee !== 0) lines.push(`transferring leadership to ${status.leadTransferee}`);
  for (const [id, progress] of status.progress) {
    lines.push(
      `${id}: ${progress.state} match=${progress.match} next=${progress.next}` +
        (progress.isLearner ? ' learner' : '') +
        (progress.paused ? ' paused' : '') +
        (progress.inflightMessages > 0 ? ` inflight=${progress.inflightMessages}` : '') +
        (progress.recentActive ? '' : ' inactive'),
    );
  }
  return lines;
}
