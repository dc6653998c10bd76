/**
 * Deliberate host bugs the simulator can switch on, to show its checkers have teeth. They live in the
 * simulated host, never in src/raft. Each one breaks a rule of the Ready contract or of client handling.
 */
export interface HostBugs {
  /**
   * Send messagesAfterPersist before the Ready is durable (the sync happens a little later, in the
   * background). A vote or an append acknowledgement can then be forgotten by a crash.
   */
  sendBeforeSync?: boolean;
  /** Acknowledge a client write as soon as it is proposed instead of when it is applied. */
  ackOnPropose?: boolean;
  /** Serve reads from the local state machine on followers, without ReadIndex. */
  localFollowerReads?: boolean;
}

export type HostBugName = keyof HostBugs;
export const hostBugNames: HostBugName[] = ['sendBeforeSync', 'ackOnPropose', 'localFollowerReads'];
