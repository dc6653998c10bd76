/**
 * config — the named limits (limits.ts) and, later, the server configuration schema.
 * Invariant: config imports only base.
 */
export * from './limits.ts';
export { shortNewPassphrase } from './passphrase-rule.ts';
export {
  parseInitialCluster, parseServerConfig, parseUnsealSource, ServerConfigError,
  type InitialMember, type RawServerConfig, type ServerConfig, type UnsealSource,
} from './server-config.ts';
