/**
 * server — the composition root: `coffer server` turns a configuration into a running member
 * (unseal, TLS, replica, peer transport, client API), and coffer.ts is the process entry for every
 * command. The only folder with listen(), signals and process exit. Nothing imports it.
 */
export { startMember, type RunningMember } from './member.ts';
