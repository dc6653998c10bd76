/**
 * server — the composition root: `coffer server` turns a configuration into a running member in named
 * stages (member.ts: checks → unseal → open storage → replica → transport → APIs → background jobs,
 * member-jobs.ts), and coffer.ts is the process entry for every command. It wires the layers and holds
 * no domain logic of theirs (docs/architecture.md, "Composing a member"). The only folder with
 * listen(), signals and process exit. Nothing imports it.
 */
export { startMember, type RunningMember } from './member.ts';
