/**
 * `coffer configmap create | get | list | delete` — the shape of `coffer secret`, with values always
 * shown (a ConfigMap holds configuration, not secrets), by the same rule as a revealed Secret value
 * (shown.ts: control characters never raw). A --from-file whose content is not UTF-8 goes
 * into `binaryData` (base64), as kubectl does; every other value into `data`.
 */
import type { Command } from 'commander';
import { setOwnMember } from '../../base/index.ts';
import type { K8sObject } from '../../client/index.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable } from '../options.ts';
import { shownValue, valueBlock } from '../shown.ts';
import {
  addNamespaceOptions, age, connectK8s, k8sAction, type K8sCommandOptions, keysOf, type NamespaceFlags, namespaceOf, readSources, repeat,
} from './k8s-common.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function registerConfigMapCommands(program: Command, io: CliIo): void {
  const configmap = program.command('configmap').description('create, read, list and delete ConfigMaps');

  addNamespaceOptions(configmap.command('create <name>'), false)
    .description('create a ConfigMap from literals and files (with neither, an empty one, as kubectl does)')
    .option('--from-literal <key=value>', 'a key and its value; repeatable', repeat)
    .option('--from-file <[key=]path>', 'a key and a file, pipe or KEY=- (standard input, once) holding its value (key defaults to the file name); repeatable', repeat)
    .option('--immutable', 'the data can never be changed', false)
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags & { fromLiteral?: string[]; fromFile?: string[]; immutable: boolean }>();
      const namespace = namespaceOf(options) as string;
      const entries = await readSources(options.fromLiteral ?? [], options.fromFile ?? [], io.stdin);
      const data: Record<string, string> = {};
      const binaryData: Record<string, string> = {};
      // A file named __proto__ is a data key like any other, never the prototype.
      for (const [key, value] of entries) {
        try {
          setOwnMember(data, key, utf8.decode(value));
        } catch {
          setOwnMember(binaryData, key, value.toString('base64'));
        }
      }
      const body: K8sObject = {
        apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data,
        ...(Object.keys(binaryData).length > 0 ? { binaryData } : {}), ...(options.immutable ? { immutable: true } : {}),
      };
      const client = await connectK8s(options, io);
      try {
        const created = await client.create('configmaps', body, { namespace });
        io.out(options.output === 'table' ? `configmap/${created.metadata.name} created\n` : formatData(options.output, created));
      } finally {
        client.close();
      }
    }));

  addNamespaceOptions(configmap.command('get <name>'), false)
    .description('show a ConfigMap and its values')
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags>();
      const client = await connectK8s(options, io);
      try {
        const found = await client.get('configmaps', name, { namespace: namespaceOf(options) as string });
        io.out(options.output === 'table' ? describeConfigMap(found, Date.now()) : formatData(options.output, found));
      } finally {
        client.close();
      }
    }));

  addNamespaceOptions(configmap.command('list'), true)
    .description('list ConfigMaps in a namespace (-n) or in all of them (-A)')
    .action(k8sAction(async (command) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags>();
      const namespace = namespaceOf(options);
      const client = await connectK8s(options, io);
      try {
        const list = await client.listAll('configmaps', namespace === undefined ? {} : { namespace });
        if (options.output !== 'table') io.out(formatData(options.output, list));
        else if (list.items.length === 0) io.out(`No configmaps found${namespace === undefined ? '' : ` in namespace "${namespace}"`}.\n`);
        else io.out(configMapTable(list.items, { allNamespaces: namespace === undefined, nowMs: Date.now() }));
      } finally {
        client.close();
      }
    }));

  addNamespaceOptions(configmap.command('delete <name>'), false)
    .description('delete a ConfigMap')
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags>();
      const client = await connectK8s(options, io);
      try {
        await client.delete('configmaps', name, { namespace: namespaceOf(options) as string });
        io.out(`configmap "${name}" deleted\n`);
      } finally {
        client.close();
      }
    }));
}

/** The table of `configmap list`: NAMESPACE (with -A), NAME, DATA (keys of data and binaryData), AGE. */
export function configMapTable(items: readonly K8sObject[], options: { allNamespaces: boolean; nowMs: number }): string {
  const header = [...(options.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'DATA', 'AGE'];
  return formatTable(header, items.map((item) => [
    ...(options.allNamespaces ? [item.metadata.namespace ?? ''] : []),
    item.metadata.name,
    String(keysOf(item.data).length + keysOf(item.binaryData).length),
    age(item.metadata.creationTimestamp, options.nowMs),
  ]));
}

/** `configmap get` in the table view, in the manner of kubectl describe: each key, a rule, its value. */
export function describeConfigMap(configMap: K8sObject, nowMs: number): string {
  const meta = configMap.metadata;
  const labels = Object.entries(meta.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const fields: [string, string][] = [['Name', meta.name], ['Namespace', meta.namespace ?? '']];
  if (labels !== '') fields.push(['Labels', labels]);
  if (configMap.immutable === true) fields.push(['Immutable', 'true']);
  fields.push(['ResourceVersion', meta.resourceVersion ?? ''], ['Age', age(meta.creationTimestamp, nowMs)]);
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  let text = fields.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`.trimEnd()).join('\n') + '\n\nData\n====\n';
  const data = (configMap.data ?? {}) as Record<string, unknown>;
  // Shown by secret get's rule (shown.ts): control characters never reach the terminal raw.
  for (const key of keysOf(data)) {
    const value = data[key];
    text += valueBlock(key, shownValue(Buffer.from(typeof value === 'string' ? value : '', 'utf8')));
  }
  const binary = (configMap.binaryData ?? {}) as Record<string, unknown>;
  const binaryKeys = keysOf(binary);
  if (binaryKeys.length > 0) {
    text += 'BinaryData\n====\n';
    for (const key of binaryKeys) {
      const value = binary[key];
      text += `${key}: ${Buffer.from(typeof value === 'string' ? value : '', 'base64').length} bytes\n`;
    }
  }
  return text;
}
