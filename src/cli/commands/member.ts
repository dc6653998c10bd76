/**
 * `coffer member list | add NAME --peer-url URL [--learner] | promote NAME | remove NAME` — membership
 * through the client API. `add` prints the flags the new member starts with (`--join --member-id
 * --cluster-id --initial-cluster`), as etcd's member add prints the environment to start it with.
 */
import type { Command } from 'commander';
import type { KvClient, Member } from '../../client/index.ts';
import { connect, type ConnectionOptions } from '../connection.ts';
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
        `  coffer server --name ${name} --join --member-id ${result.member.id} --cluster-id ${result.header.clusterId} ` +
        `--listen-peer ${options.peerUrl} --initial-cluster ${initialCluster} …\n`);
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

async function byName(client: KvClient, name: string): Promise<Member> {
  const { members } = await client.memberList();
  const found = members.find((m) => m.name === name);
  if (found === undefined) {
    client.close();
    throw new CliError(`no member named ${JSON.stringify(name)} (coffer member list shows them)`);
  }
  return found;
}
