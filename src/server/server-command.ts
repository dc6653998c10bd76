/**
 * `coffer server`: flags (or a YAML file with the same keys, flags winning) → a validated
 * ServerConfig → a running member, until SIGTERM or SIGINT (graceful stop) or a fatal replica error.
 * SIGHUP reloads the TLS material (it is also watched on disk).
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { memberStopMsMax, parseServerConfig, type RawServerConfig, ServerConfigError } from '../config/index.ts';
import { startMember } from './member.ts';

export function serverCommand(): Command {
  return new Command('server')
    .description('run a Coffer member')
    .option('--config <file>', 'YAML file with the settings below (camelCase keys); flags win')
    .option('--name <name>', 'member name (as in its certificate)')
    .option('--data-dir <dir>', 'the member\'s data directory')
    .option('--listen-client <url>', 'client API URL, https://host:port')
    .option('--listen-peer <url>', 'peer URL, https://host:port')
    .option('--advertise-client <url>', 'client URL other members and clients use (default: --listen-client)')
    .option('--advertise-peer <url>', 'peer URL other members use (default: --listen-peer)')
    .option('--initial-cluster <list>', 'name=https://host:port,… of the initial members')
    .option('--initial-cluster-token <token>', 'keeps clusters with the same member names apart')
    .option('--join', 'join an existing cluster (after `coffer member add`)')
    .option('--member-id <id>', 'with --join: the id `coffer member add` printed')
    .option('--cluster-id <id>', 'with --join: the cluster id `coffer member add` printed')
    .option('--cert <file>', 'member certificate')
    .option('--key <file>', 'member key')
    .option('--cacert <file>', 'CA certificate')
    .option('--crl <file>', 'CRL')
    .option('--policies <dir>', 'default policies loaded at the first start')
    .option('--backup-recipient <file>', 'public backup key (coffer snapshot keygen): serve etcd\'s Snapshot sealed to it')
    .option('--unseal-key-file <file>', 'unseal with a 32-byte key file (mode 0600)')
    .option('--passphrase-file <file>', 'unseal with a passphrase (argon2id)')
    .option('--kms-socket <path>', 'unseal through a KMS plugin')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--tick-ms <ms>', 'Raft tick length in milliseconds (default 100)')
    .option('--audit-retention-bytes-max <size>', 'audit files kept, by total size: bytes, or 160Mi, 2Gi (default 160Mi)')
    .option('--audit-retention-age-max <duration>', 'audit files whose newest record is older go: 90d, 24h… (default 90d)')
    .option('--audit-retention-age-min <duration>', 'history younger than this is warned about before the size limit drops it (default 24h)')
    .option('--exit-grace <duration>', 'how long a member that cannot go on (fail-stop, removed) keeps answering before it exits (default 30s)')
    .option('--stay-when-removed', 'keep running (serving nothing) after this member was removed from the cluster, for inspection')
    .option('--history-retention-ms <ms>', 'history kept before the leader compacts it, in milliseconds (default 300000)')
    .option('--quota-backend-bytes <size>', 'store size past which the member raises its NOSPACE alarm: bytes, or 512Mi, 8Gi (default 2Gi)')
    .option('--snapshot-count <entries>', 'compact the WAL every this many applied entries (default 10000)')
    .option('--snapshot-catch-up-entries <entries>', 'entries the WAL keeps behind a compaction for slow followers (default 5000)')
    .action(async (flags: RawServerConfig & { config?: string }) => {
      const fromFile = flags.config === undefined ? {} : await readConfigFile(flags.config);
      const { config: _file, ...fromFlags } = flags;
      const config = parseServerConfig({ ...fromFile, ...fromFlags }, process.env);
      // Without a handler node's default for SIGHUP ends the process; the README promises a reload.
      // Taken from here on: during the start a SIGHUP has nothing to reload yet (the files are read
      // as the member starts, and the file watch sees later changes).
      let reloadTls: () => Promise<void> = () => Promise.resolve();
      process.on('SIGHUP', () => void reloadTls());
      const member = await startMember(config, process.env);
      reloadTls = () => member.reloadTls();
      process.stdout.write(`coffer: member ${config.name} (id ${member.identity.memberId}, cluster ${member.identity.clusterId}) serving ` +
        `clients on ${config.listenClient.href} and peers on ${config.listenPeer.href}\n`);
      let stopping = false;
      // The member's log says when it stops and why, and when the stop is done (docs/operations.md).
      const stop = async (code: number, why: string) => {
        if (stopping) return;
        stopping = true;
        // Bounded: an orderly stop that hangs (a request or a disk that does not answer) does not keep the process.
        setTimeout(() => {
          process.stderr.write(`coffer: member ${config.name} did not stop within ${memberStopMsMax} ms; exiting\n`);
          process.exit(1);
        }, memberStopMsMax).unref();
        member.app.log.info({ member: config.name, reason: why }, 'member stopping');
        await member.stop();
        member.app.log.info({ member: config.name, exitCode: code }, 'member stopped');
        process.exit(code);
      };
      process.on('SIGTERM', () => void stop(0, 'SIGTERM'));
      process.on('SIGINT', () => void stop(0, 'SIGINT'));
      void member.exit.then((code) => stop(code, `the member cannot go on (exit code ${code})`));
    });
}

async function readConfigFile(path: string): Promise<RawServerConfig> {
  const parsed = parseYaml(await readFile(path, 'utf8')) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ServerConfigError('config', `${path} is not a YAML mapping`);
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, typeof v === 'boolean' ? v : String(v)]));
}
