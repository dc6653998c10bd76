/** Message construction and the few message conventions shared by the core. */
import type { Message, MessageType } from './types.ts';

/** Marks a vote request caused by leader transfer: it bypasses leader leases (and pre-vote). */
export const campaignTransferContext = new TextEncoder().encode('CampaignTransfer');

export function isTransferContext(ctx: Uint8Array | undefined): boolean {
  if (ctx === undefined || ctx.length !== campaignTransferContext.length) return false;
  return ctx.every((b, i) => b === campaignTransferContext[i]);
}

/**
 * Messages that carry a promise of their sender — a vote, a vote request (which implies the sender's
 * vote for itself), an acknowledgement of appended entries — and so must wait until the sender's state
 * is durable (Ready.messagesAfterPersist).
 */
export const afterPersistTypes: ReadonlySet<MessageType> = new Set<MessageType>(['appResp', 'vote', 'voteResp', 'preVoteResp']);

/** A message with every field defaulted; `type` and the fields that matter are given. */
export function makeMessage(fields: Partial<Message> & { type: MessageType }): Message {
  return { from: 0, to: 0, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...fields };
}
