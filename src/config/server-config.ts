/**
 * The configuration of one member (`coffer server`): from flags, or a YAML file with the same keys
 * (flags win). Validated once, before anything starts; a bad value is a ServerConfigError naming the
 * key and the value, never a crash later.
 */
import { CofferError } from '../base/index.ts';
import {
  auditRetentionAgeMsMaxDefault, auditRetentionAgeMsMinDefault, auditRetentionBytesMaxDefault, exitGraceMsDefault,
  historyRetentionMsDefault, historyRetentionMsMax, historyRetentionMsMin, quotaBackendBytesDefault, quotaBackendBytesMin,
  snapshotCatchUpEntries, snapshotEntriesMax, snapshotEveryEntries,
} from './limits.ts';

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
  /** A backup recipient's public key file: etcd's Snapshot is served as a backup sealed to it (none: refused). */
  backupRecipient?: string;
  unseal: UnsealSource;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Raft tick length; elections take 10–20 ticks. */
  tickMs: number;
  /** Audit retention (docs/operations.md): total size kept, the age past which files go, the age under which history is young. */
  auditRetention: { bytesMax: number; ageMsMax: number; ageMsMin: number };
  /** How long a member that cannot go on (fail-stop, removed) keeps answering with the reason before it exits. */
  exitGraceMs: number;
  /** A removed member keeps running (for inspection) instead of exiting after exitGraceMs. */
  stayWhenRemoved: boolean;
  /** How long the store keeps history before the leader compacts it (docs/security.md, "History retention"). */
  historyRetentionMs: number;
  /** The store size past which the member raises its NOSPACE alarm (etcd's --quota-backend-bytes), in bytes. */
  quotaBackendBytes: number;
  /** WAL compaction: every `snapshotCount` applied entries, keeping `snapshotCatchUpEntries` behind (etcd's knobs). */
  snapshotCount: number;
  snapshotCatchUpEntries: number;
}

export class ServerConfigError extends CofferError {
  readonly code = 'E_CONFIG';
  /** `key` undefined: a problem of the configuration as a whole (several keys missing). */
  constructor(key: string | undefined, problem: string) {
    super(key === undefined ? `config: ${problem}` : `config ${key}: ${problem}`);
  }
}

/** The raw keys a YAML file or the flags may set (flags in camelCase, as commander gives them). */
export type RawServerConfig = Partial<Record<
  'name' | 'dataDir' | 'listenClient' | 'listenPeer' | 'advertiseClient' | 'advertisePeer' | 'initialCluster'
  | 'initialClusterToken' | 'memberId' | 'clusterId' | 'cert' | 'key' | 'cacert' | 'crl' | 'policies'
  | 'backupRecipient' | 'unsealKeyFile' | 'passphraseFile' | 'kmsSocket' | 'logLevel' | 'tickMs' | 'historyRetentionMs'
  | 'auditRetentionBytesMax' | 'auditRetentionAgeMax' | 'auditRetentionAgeMin' | 'exitGrace'
  | 'snapshotCount' | 'snapshotCatchUpEntries' | 'quotaBackendBytes',
  string
>> & { join?: boolean; stayWhenRemoved?: boolean };

const memberName = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The keys every member needs, with their flags, in the order `coffer server --help` lists them. */
const requiredKeys: readonly [keyof RawServerConfig, string][] = [
  ['name', '--name'], ['dataDir', '--data-dir'], ['listenClient', '--listen-client'], ['listenPeer', '--listen-peer'],
  ['cert', '--cert'], ['key', '--key'], ['cacert', '--cacert'],
];
const unsealFlags = 'one of --unseal-key-file, --passphrase-file, --kms-socket or COFFER_UNSEAL_PASSPHRASE';

/**
 * Every required setting that is absent, named at once by its flag, so one run says all that is
 * missing (a YAML file sets the same keys in camelCase).
 */
function checkRequired(raw: RawServerConfig, env: Readonly<Record<string, string | undefined>>): void {
  const absent = (key: keyof RawServerConfig) => typeof raw[key] !== 'string' || raw[key] === '';
  const missing = requiredKeys.filter(([key]) => absent(key)).map(([, flag]) => flag);
  if (raw.join === true) {
    if (absent('memberId')) missing.push('--member-id (with --join)');
    if (absent('clusterId')) missing.push('--cluster-id (with --join)');
  }
  if (raw.unsealKeyFile === undefined && raw.passphraseFile === undefined && raw.kmsSocket === undefined && !env.COFFER_UNSEAL_PASSPHRASE) missing.push(unsealFlags);
  if (missing.length === 0) return;
  const list = missing.length === 1 ? missing[0]! : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)!}`;
  throw new ServerConfigError(undefined, `missing ${list} (see coffer server --help)`);
}

export function parseServerConfig(raw: RawServerConfig, env: Readonly<Record<string, string | undefined>>): ServerConfig {
  checkRequired(raw, env);
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
  const historyRetentionMs = raw.historyRetentionMs === undefined ? historyRetentionMsDefault : Number(raw.historyRetentionMs);
  if (!Number.isSafeInteger(historyRetentionMs) || historyRetentionMs < historyRetentionMsMin || historyRetentionMs > historyRetentionMsMax) {
    throw new ServerConfigError('historyRetentionMs', `${raw.historyRetentionMs} is not a whole number of milliseconds in [${historyRetentionMsMin}, ${historyRetentionMsMax}]`);
  }
  const entries = (key: 'snapshotCount' | 'snapshotCatchUpEntries', fallback: number, min: number): number => {
    const n = raw[key] === undefined ? fallback : Number(raw[key]);
    if (!Number.isSafeInteger(n) || n < min || n > snapshotEntriesMax) {
      throw new ServerConfigError(key, `${raw[key]} is not a whole number of entries in [${min}, ${snapshotEntriesMax}]`);
    }
    return n;
  };
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
    auditRetention: parseAuditRetention(raw),
    exitGraceMs: raw.exitGrace === undefined ? exitGraceMsDefault : durationMs('exitGrace', raw.exitGrace),
    stayWhenRemoved: raw.stayWhenRemoved === true,
    historyRetentionMs,
    quotaBackendBytes: parseQuota(raw.quotaBackendBytes),
    snapshotCount: entries('snapshotCount', snapshotEveryEntries, 1),
    snapshotCatchUpEntries: entries('snapshotCatchUpEntries', snapshotCatchUpEntries, 0),
  };
  if (raw.crl) config.crl = raw.crl;
  if (raw.policies) config.policies = raw.policies;
  if (raw.backupRecipient) config.backupRecipient = raw.backupRecipient;
  if (join) {
    const id = Number(required('memberId'));
    if (!Number.isSafeInteger(id) || id < 1) throw new ServerConfigError('memberId', `${raw.memberId} is not a positive whole number`);
    config.memberId = id;
    config.clusterId = required('clusterId');
  }
  return config;
}

function parseQuota(value: string | undefined): number {
  if (value === undefined) return quotaBackendBytesDefault;
  const n = bytes('quotaBackendBytes', value);
  if (n < quotaBackendBytesMin) throw new ServerConfigError('quotaBackendBytes', `${value} is below the smallest quota, ${quotaBackendBytesMin} bytes`);
  return n;
}

function parseAuditRetention(raw: RawServerConfig): ServerConfig['auditRetention'] {
  const retention = {
    bytesMax: raw.auditRetentionBytesMax === undefined ? auditRetentionBytesMaxDefault : bytes('auditRetentionBytesMax', raw.auditRetentionBytesMax),
    ageMsMax: raw.auditRetentionAgeMax === undefined ? auditRetentionAgeMsMaxDefault : durationMs('auditRetentionAgeMax', raw.auditRetentionAgeMax),
    ageMsMin: raw.auditRetentionAgeMin === undefined ? auditRetentionAgeMsMinDefault : durationMs('auditRetentionAgeMin', raw.auditRetentionAgeMin),
  };
  if (retention.bytesMax < 1) throw new ServerConfigError('auditRetentionBytesMax', 'must be at least 1 byte');
  if (retention.ageMsMin > retention.ageMsMax) {
    throw new ServerConfigError('auditRetentionAgeMin', `${raw.auditRetentionAgeMin ?? 'the default'} is longer than auditRetentionAgeMax (${raw.auditRetentionAgeMax ?? 'the default'})`);
  }
  return retention;
}

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `15m`, `24h`, `90d`: a whole number and a unit. */
function durationMs(key: string, value: string): number {
  const m = /^(\d{1,12})(ms|s|m|h|d)$/.exec(value.trim());
  if (!m) throw new ServerConfigError(key, `${JSON.stringify(value)} is not a duration like 30s, 15m, 24h or 90d`);
  return Number(m[1]) * durationUnitsMs[m[2]!]!;
}

const byteUnits: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** A whole number of bytes, optionally with Ki, Mi, Gi or Ti (as Kubernetes quantities). */
function bytes(key: string, value: string): number {
  const m = /^(\d{1,15})(Ki|Mi|Gi|Ti)?$/.exec(value.trim());
  const n = m ? Number(m[1]) * byteUnits[m[2] ?? '']! : NaN;
  if (!Number.isSafeInteger(n)) throw new ServerConfigError(key, `${JSON.stringify(value)} is not a size like 167772160, 160Mi or 2Gi`);
  return n;
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
