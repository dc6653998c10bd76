/**
 * `coffer namespace create | list | delete NAME`. Deleting a namespace deletes every Secret,
 * ConfigMap, Role and RoleBinding in it, in one transaction on the server; `default` and
 * `coffer-system` cannot be deleted (the server refuses).
 */
import type { Command } from 'commander';
import type { K8sObject } from '../../client/index.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable } from '../options.ts';
import { age, connectK8s, k8sAction, type K8sCommandOptions } from './k8s-common.ts';

export function registerNamespaceCommands(program: Command, io: CliIo): void {
  const namespace = program.command('namespace').description('create, list and delete namespaces');

  namespace.command('create <name>').description('create a namespace').action(k8sAction(async (command, name: string) => {
    const options = command.optsWithGlobals<K8sCommandOptions>();
    const client = await connectK8s(options, io);
    try {
      const created = await client.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      io.out(options.output === 'table' ? `namespace/${created.metadata.name} created\n` : formatData(options.output, created));
    } finally {
      client.close();
    }
  }));

  namespace.command('list').description('list namespaces').action(k8sAction(async (command) => {
    const options = command.optsWithGlobals<K8sCommandOptions>();
    const client = await connectK8s(options, io);
    try {
      const list = await client.listAll('namespaces');
      io.out(options.output === 'table' ? namespaceTable(list.items, Date.now()) : formatData(options.output, list));
    } finally {
      client.close();
    }
  }));

  namespace.command('delete <name>').description('delete a namespace and everything in it').action(k8sAction(async (command, name: string) => {
    const options = command.optsWithGlobals<K8sCommandOptions>();
    const client = await connectK8s(options, io);
    try {
      await client.delete('namespaces', name);
      io.out(`namespace "${name}" deleted\n`);
    } finally {
      client.close();
    }
  }));
}

/** NAME, STATUS (the namespace's phase), AGE. */
export function namespaceTable(items: readonly K8sObject[], nowMs: number): string {
  return formatTable(['NAME', 'STATUS', 'AGE'], items.map((item) => {
    const status = item.status as { phase?: unknown } | undefined;
    return [item.metadata.name, typeof status?.phase === 'string' ? status.phase : '', age(item.metadata.creationTimestamp, nowMs)];
  }));
}
