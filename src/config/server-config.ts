/**
 * The configuration of one member (`coffer server`): from flags, or a YAML file with the same keys
 * (flags win). Validated once, before anything starts; a bad value is a ServerConfigError naming the
 * key and the value, never a crash later.
 */

export type UnsealSource =
  | { kind: 'keyFile'; path: string }
  | { kind: 'passphraseFile'; path: string }
  | { kind: 'passphraseEnv' }
  | { kind: 'kms'; socket: string };

export interface InitialMember {
  name: string;
  /** The URL this member dials to reach that member's peer port (may be a proxy). */
  peerUrl: string;
}

export interface ServerConfig {
  name: string;
  dataDir: string;
  listenClient: URL;
  listenPeer: URL;
  /** The URLs others reach this member at (default: the listen URLs). */
  advertiseClient: URL;
  advertisePeer: URL;
  initialCluster: InitialMember[];
  /** Mixed into the cluster id, so two clusters with the same member names stay apart. */
  initialClusterToken: string;
  /** Joining an existing cluster (after `coffer member add`) instead of starting a new one. */
  join: boolean;
  /** For --join: the id `coffer member add` gave this member, and the cluster's id. */
  memberId?: number;
  clusterId?: string;
  cert: string;
  key: string;
  cacert: string;
  crl?: string;
  policies?: string;
  unseal: UnsealSource;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Raft tick length; elections take 10–20 ticks. */
  tickMs: number;
}

export class ServerConfigError extends Error {
  readonly code = 'E_CONFIG';
  constructor(key: string, problem: string) {
    super(`config ${key}: ${problem}`);
  }
}

/** The raw keys a YAML file or the flags may set (flags in camelCase, as commander gives them). */
export type RawServerConfig = Partial<Record<
  'name' | 'dataDir' | 'listenClient' | 'listenPeer' | 'advertiseClient' | 'advertisePeer' | 'initialCluster'
  | 'initialClusterToken' | 'memberId' | 'clusterId' | 'cert' | 'key' | 'cacert' | 'crl' | 'policies'
  | 'unsealKeyFile' | 'passphraseFile' | 'kmsSocket' | 'logLevel' | 'tickMs',
  string
>> & { join?: boolean };

const memberName = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function parseServerConfig(raw: RawServerConfig, env: Readonly<Record<string, string | undefined>>): ServerConfig {
  const required = (key: keyof RawServerConfig): string => {
    const value = raw[key];
    if (typeof value !== 'string' || value === '') throw new ServerConfigError(key, 'is required');
    return value;
  };
  const name = required('name');
  if (!memberName.test(name)) throw new ServerConfigError('name', `${JSON.stringify(name)} is not a DNS-1123 label`);
  const listenClient = httpsUrl('listenClient', required('listenClient'));
  const listenPeer = httpsUrl('listenPeer', required('listenPeer'));
  const join = raw.join === true;
  const initialCluster = parseInitialCluster(raw.initialCluster ?? `${name}=${listenPeer.href}`);
  if (!initialCluster.some((m) => m.name === name)) {
    throw new ServerConfigError('initialCluster', `does not name this member (${name})`);
  }
  const logLevel = raw.logLevel ?? 'info';
  if (!(logLevels as readonly string[]).includes(logLevel)) throw new ServerConfigError('logLevel', `${JSON.stringify(logLevel)} is not one of ${logLevels.join(', ')}`);
  const tickMs = raw.tickMs === undefined ? 100 : Number(raw.tickMs);
  if (!Number.isSafeInteger(tickMs) || tickMs < 1 || tickMs > 10_000) throw new ServerConfigError('tickMs', `${raw.tickMs} is not a whole number of milliseconds in [1, 10000]`);
  const config: ServerConfig = {
    name,
    dataDir: required('dataDir'),
    listenClient,
    listenPeer,
    advertiseClient: raw.advertiseClient ? httpsUrl('advertiseClient', raw.advertiseClient) : listenClient,
    advertisePeer: raw.advertisePeer ? httpsUrl('advertisePeer', raw.advertisePeer) : listenPeer,
    initialCluster,
    initialClusterToken: raw.initialClusterToken ?? 'coffer',
    join,
    cert: required('cert'),
    key: required('key'),
    cacert: required('cacert'),
    unseal: parseUnsealSource(raw, env),
    logLevel: logLevel as ServerConfig['logLevel'],
    tickMs,
  };
  if (raw.crl) config.crl = raw.crl;
  if (raw.policies) config.policies = raw.policies;
  if (join) {
    const id = Number(required('memberId'));
    if (!Number.isSafeInteger(id) || id < 1) throw new ServerConfigError('memberId', `${raw.memberId} is not a positive whole number`);
    config.memberId = id;
    config.clusterId = required('clusterId');
  }
  return config;
}

/** Exactly one unseal source from flags (or the YAML keys) and the environment; shared by every command that unseals. */
export function parseUnsealSource(
  flags: { unsealKeyFile?: string; passphraseFile?: string; kmsSocket?: string },
  env: Readonly<Record<string, string | undefined>>,
): UnsealSource {
  const sources = [
    flags.unsealKeyFile !== undefined ? { kind: 'keyFile', path: flags.unsealKeyFile } as const : undefined,
    flags.passphraseFile !== undefined ? { kind: 'passphraseFile', path: flags.passphraseFile } as const : undefined,
    flags.kmsSocket !== undefined ? { kind: 'kms', socket: flags.kmsSocket } as const : undefined,
    env.COFFER_UNSEAL_PASSPHRASE ? { kind: 'passphraseEnv' } as const : undefined,
  ].filter((s) => s !== undefined);
  const [source] = sources;
  if (sources.length !== 1 || source === undefined) {
    throw new ServerConfigError('unseal', 'give exactly one of --unseal-key-file, --passphrase-file, --kms-socket or COFFER_UNSEAL_PASSPHRASE');
  }
  return source;
}

function httpsUrl(key: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ServerConfigError(key, `${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'https:' || url.port === '') throw new ServerConfigError(key, `${JSON.stringify(value)} must be https://host:port`);
  return url;
}

/** `m1=https://127.0.0.1:7444,m2=…` in the order given; ids of a new cluster follow that order. */
export function parseInitialCluster(value: string): InitialMember[] {
  const members = value.split(',').map((part) => part.trim()).filter((part) => part !== '').map((part) => {
    const at = part.indexOf('=');
    if (at < 1) throw new ServerConfigError('initialCluster', `${JSON.stringify(part)} is not name=https://host:port`);
    const name = part.slice(0, at);
    if (!memberName.test(name)) throw new ServerConfigError('initialCluster', `${JSON.stringify(name)} is not a DNS-1123 label`);
    return { name, peerUrl: httpsUrl('initialCluster', part.slice(at + 1)).href };
  });
  if (members.length === 0) throw new ServerConfigError('initialCluster', 'names no member');
  const names = new Set(members.map((m) => m.name));
  if (names.size !== members.length) throw new ServerConfigError('initialCluster', 'names a member twice');
  return members;
}
