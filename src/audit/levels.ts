/**
 * The vocabulary shared by the policy and the event: Kubernetes audit levels and stages.
 * Levels are ordered: each records everything the one before it does, and more.
 */
export const auditLevels = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
export type AuditLevel = (typeof auditLevels)[number];

export const auditStages = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
export type AuditStage = (typeof auditStages)[number];
