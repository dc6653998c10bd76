/**
 * `coffer member list | add NAME --peer-url URL [--learner] | promote NAME | remove NAME` — membership
 * through the client API. `add` prints the whole command the new member starts with (every flag
 * `coffer server` requires, `--join --member-id --cluster-id --initial-cluster` among them), as etcd's
 * member add prints the environment to start it with.
 */
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import type { KvClient, Member } from '../../client/index.ts';
import { caLayout } from '../../pki/index.ts';
import { connect, type ConnectionOptions, credentialFilesOf } from '../connection.ts';
import { crlBeside } from '../credentials.ts';
import { CliError } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable, type GlobalOptions } from '../options.ts';

type Options = GlobalOptions & ConnectionOptions;

export function registerMemberCommands(program: Command, io: CliIo): void {
  const member = program.command('member').description('list, add, promote and remove cluster members');

  member.command('list').description('the members of the cluster').action(async (_options: unknown, command: Command) => {
    const options = command.optsWithGlobals<Options>();
    const client = await connect(options, io);
    const [{ members }, status] = await Promise.all([client.memberList(), client.status()]).finally(() => client.close());
    if (options.output !== 'table') {
      io.out(formatData(options.output, members));
      return;
    }
    io.out(formatTable(['ID', 'NAME', 'ROLE', 'PEER URL', 'CLIENT URL'], members.map((m) => [
      m.id, m.name, m.isLearner ? 'learner' : m.id === status.leader ? 'voter (leader)' : 'voter', m.peerUrls[0] ?? '', m.clientUrls[0] ?? '',
    ])));
  });

  member.command('add <name>')
    .description('add a member (as a learner with --learner); prints how to start it')
    .requiredOption('--peer-url <url>', 'the new member\'s peer URL, https://host:port')
    .option('--client-url <url>', 'the new member\'s client URL')
    .option('--learner', 'join as a learner (no vote until promoted)', false)
    .action(async (name: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<Options & { peerUrl: string; clientUrl?: string; learner: boolean }>();
      const client = await connect(options, io);
      const result = await client.memberAdd({
        name, peerUrls: [options.peerUrl], isLearner: options.learner, ...(options.clientUrl ? { clientUrls: [options.clientUrl] } : {}),
      }).finally(() => client.close());
      const initialCluster = result.members.map((m) => `${m.name}=${m.id === result.member.id ? options.peerUrl : m.peerUrls[0] ?? ''}`).join(',');
      if (options.output !== 'table') {
        io.out(formatData(options.output, result.member));
        return;
      }
      io.out(`added member ${name} with id ${result.member.id}${options.learner ? ' as a learner' : ''}; start it with:\n` +
        startCommand({
          name, memberId: result.member.id, clusterId: result.header.clusterId, peerUrl: options.peerUrl, clientUrl: options.clientUrl,
          initialCluster, caFile: credentialFilesOf(options, io).ca,
        }));
    });

  member.command('promote <name>').description('promote a learner that has caught up to a voter').action(async (name: string, _options: unknown, command: Command) => {
    const client = await connect(command.optsWithGlobals<Options>(), io);
    const target = await byName(client, name);
    await client.memberPromote(target.id).finally(() => client.close());
    io.out(`promoted member ${name} (id ${target.id}) to voter\n`);
  });

  member.command('remove <name>').description('remove a member; its id is never used again').action(async (name: string, _options: unknown, command: Command) => {
    const client = await connect(command.optsWithGlobals<Options>(), io);
    const target = await byName(client, name);
    await client.memberRemove(target.id).finally(() => client.close());
    io.out(`removed member ${name} (id ${target.id})\n`);
  });
}

/**
 * The whole `coffer server` command the new member starts with: every flag it requires, with the
 * files where `coffer ca issue --member NAME` puts them (beside the CA certificate this command used)
 * and its data in data/NAME, as "Running a member by hand" in the README lays them out. Without
 * --client-url the client port is the peer port less one, as `npm run cluster` numbers them.
 */
export function startCommand(spec: {
  name: string; memberId: string; clusterId: string; peerUrl: string; clientUrl: string | undefined; initialCluster: string; caFile: string;
}): string {
  const certs = caLayout(dirname(spec.caFile));
  const crl = crlBeside(spec.caFile);
  const clientUrl = spec.clientUrl ?? clientUrlBeside(spec.peerUrl);
  const q = shellWord;
  const lines = [
    `coffer server --name ${q(spec.name)} --join --member-id ${q(spec.memberId)} --cluster-id ${q(spec.clusterId)}`,
    `--data-dir ${q(join('data', spec.name))}`,
    `--listen-client ${q(clientUrl ?? 'https://HOST:PORT')} --listen-peer ${q(spec.peerUrl)}`,
    `--initial-cluster ${q(spec.initialCluster)}`,
    `--cert ${q(certs.memberCert(spec.name))} --key ${q(certs.memberKey(spec.name))} --cacert ${q(spec.caFile)}${crl === undefined ? '' : ` --crl ${q(crl)}`}`,
    `--unseal-key-file ${q(certs.memberUnsealKey(spec.name))}`,
  ];
  const notes = [
    ...(spec.clientUrl === undefined ? [`--listen-client: ${clientUrl === undefined ? 'give the member\'s client URL' : 'the peer port less one'}; coffer member add --client-url chooses it`] : []),
    'or unseal with --passphrase-file F, COFFER_UNSEAL_PASSPHRASE or --kms-socket S instead of --unseal-key-file',
    `the certificate, key and unseal key: coffer ca issue --member ${spec.name} --host HOST`,
  ];
  return `  ${lines.join(' \\\n    ')}\n${notes.map((note) => `  # ${note}\n`).join('')}`;
}

/** A word as a POSIX shell reads it back: as it is when it holds nothing the shell would interpret, else single-quoted. */
function shellWord(word: string): string {
  return /^[-\w./:=,@%+]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** https://host:(port - 1) of a peer URL, or undefined when that is no port. */
function clientUrlBeside(peerUrl: string): string | undefined {
  try {
    const url = new URL(peerUrl);
    const port = Number(url.port);
    return port > 1 ? `https://${url.hostname}:${port - 1}` : undefined; // hostname keeps an IPv6 address's brackets
  } catch {
    return undefined;
  }
}

async function byName(client: KvClient, name: string): Promise<Member> {
  const { members } = await client.memberList();
  const found = members.find((m) => m.name === name);
  if (found === undefined) {
    client.close();
    throw new CliError(`no member named ${JSON.stringify(name)} (coffer member list shows them)`);
  }
  return found;
}
