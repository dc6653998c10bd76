/**
 * Compact, stable text renderings of Raft values for the scenario tests' golden output.
 */
import { decodeConfChange, type ConfState, type Entry, type Message, type Snapshot } from '../../../src/raft/index.ts';

const decoder = new TextDecoder();

export function text(bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return '';
  const s = decoder.decode(bytes);
  return s.length > 24 ? `${s.slice(0, 12)}…(${bytes.length} bytes)` : s;
}

export function ids(list: readonly number[]): string {
  return `(${list.join(',')})`;
}

export function confState(cs: ConfState): string {
  return `voters=${ids(cs.voters)} learners=${ids(cs.learners)}`;
}

export function entry(e: Entry): string {
  if (e.type === 'confChange') {
    const cc = decodeConfChange(e.data);
    return `${e.index}/${e.term} ${cc.type}(${cc.nodeId})`;
  }
  return e.data.length === 0 ? `${e.index}/${e.term}` : `${e.index}/${e.term} "${text(e.data)}"`;
}

export function entries(list: readonly Entry[]): string {
  return `[${list.map(entry).join(', ')}]`;
}

export function snapshot(s: Snapshot): string {
  return `${s.metadata.index}/${s.metadata.term} ${confState(s.metadata.confState)} data="${text(s.data)}"`;
}

export function message(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type}`;
  if (m.term !== 0) s += ` t${m.term}`;
  switch (m.type) {
    case 'app':
      s += ` prev=${m.index}/${m.logTerm} commit=${m.commit}`;
      if (m.entries.length > 0) s += ` ${entries(m.entries)}`;
      if (m.noReply === true) s += ' noReply';
      break;
    case 'appResp':
      s += m.reject ? ` reject idx=${m.index} hint=${m.rejectHint}/${m.logTerm}` : ` idx=${m.index}`;
      break;
    case 'vote':
    case 'preVote':
      s += ` last=${m.index}/${m.logTerm}`;
      if (m.context !== undefined) s += ' (transfer)';
      break;
    case 'voteResp':
    case 'preVoteResp':
      s += m.reject ? ' rejected' : ' granted';
      break;
    case 'heartbeat':
      s += ` commit=${m.commit}`;
      if (m.context !== undefined) s += ` ctx="${text(m.context)}"`;
      break;
    case 'heartbeatResp':
      if (m.context !== undefined) s += ` ctx="${text(m.context)}"`;
      break;
    case 'snap':
      if (m.snapshot !== undefined) s += ` snap=${snapshot(m.snapshot)}`;
      break;
    case 'prop':
      s += ` ${entries(m.entries)}`;
      break;
    case 'readIndex':
      s += ` ctx="${text(m.context)}"`;
      break;
    case 'readIndexResp':
      s += ` idx=${m.index} ctx="${text(m.context)}"`;
      break;
    default:
      break;
  }
  return s;
}
