/**
 * config — the named limits (limits.ts) and, later, the server configuration schema.
 * Invariant: config imports only base.
 */
export * from './limits.ts';
