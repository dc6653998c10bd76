/**
 * `coffer secret create | get | list | delete` over the Kubernetes-shaped API.
 *
 * Values are never printed by default: `get` shows each key with its size, and only `--reveal` shows
 * the values; `-o json|yaml` prints the API object exactly as the server returned it (data in
 * base64), which is asking for the values too. A list shows `<redacted>` for the Secrets the server
 * sent without data (the caller may list but not get them). Bytes read for --from-file are wiped once
 * encoded.
 */
import type { Command } from 'commander';
import type { K8sObject } from '../../client/index.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable } from '../options.ts';
import {
  addNamespaceOptions, age, connectK8s, isRedacted, k8sAction, type K8sCommandOptions, keysOf, type NamespaceFlags, namespaceOf, readSources, repeat,
  wipeAll,
} from './k8s-common.ts';

interface CreateFlags extends K8sCommandOptions, NamespaceFlags {
  fromLiteral?: string[];
  fromFile?: string[];
  type: string;
  immutable: boolean;
}

export function registerSecretCommands(program: Command, io: CliIo): void {
  const secret = program.command('secret').description('create, read, list and delete Secrets (values hidden unless --reveal)');

  addNamespaceOptions(secret.command('create <name>'), false)
    .description('create a Secret from literals and files')
    .option('--from-literal <key=value>', 'a key and its value; repeatable', repeat)
    .option('--from-file <[key=]path>', 'a key and a file holding its value (key defaults to the file name); repeatable', repeat)
    .option('--type <type>', 'the Secret type', 'Opaque')
    .option('--immutable', 'the data can never be changed (delete and create again instead)', false)
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<CreateFlags>();
      const namespace = namespaceOf(options) as string;
      const entries = await readSources(options.fromLiteral ?? [], options.fromFile ?? []);
      let body: K8sObject;
      try {
        const data: Record<string, string> = {};
        for (const [key, value] of entries) data[key] = value.toString('base64');
        body = {
          apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: options.type, data, ...(options.immutable ? { immutable: true } : {}),
        };
      } finally {
        wipeAll(entries);
      }
      const client = await connectK8s(options, io);
      try {
        const created = await client.create('secrets', body, { namespace });
        io.out(options.output === 'table' ? `secret/${created.metadata.name} created\n` : formatData(options.output, created));
      } finally {
        client.close();
      }
    }));

  addNamespaceOptions(secret.command('get <name>'), false)
    .description('show a Secret: its keys and their sizes, or the values with --reveal')
    .option('--reveal', 'show the values', false)
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags & { reveal: boolean }>();
      const client = await connectK8s(options, io);
      try {
        const found = await client.get('secrets', name, { namespace: namespaceOf(options) as string });
        io.out(options.output === 'table' ? describeSecret(found, { reveal: options.reveal, nowMs: Date.now() }) : formatData(options.output, found));
      } finally {
        client.close();
      }
    }));

  addNamespaceOptions(secret.command('list'), true)
    .description('list Secrets in a namespace (-n) or in all of them (-A)')
    .action(k8sAction(async (command) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags>();
      const namespace = namespaceOf(options);
      const client = await connectK8s(options, io);
      try {
        const list = await client.listAll('secrets', namespace === undefined ? {} : { namespace });
        if (options.output !== 'table') io.out(formatData(options.output, list));
        else if (list.items.length === 0) io.out(`No secrets found${namespace === undefined ? '' : ` in namespace "${namespace}"`}.\n`);
        else io.out(secretTable(list.items, { allNamespaces: namespace === undefined, nowMs: Date.now() }));
      } finally {
        client.close();
      }
    }));

  addNamespaceOptions(secret.command('delete <name>'), false)
    .description('delete a Secret')
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags>();
      const client = await connectK8s(options, io);
      try {
        await client.delete('secrets', name, { namespace: namespaceOf(options) as string });
        io.out(`secret "${name}" deleted\n`);
      } finally {
        client.close();
      }
    }));
}

/** The table of `secret list`: NAMESPACE (with -A), NAME, TYPE, DATA (key count), AGE. */
export function secretTable(items: readonly K8sObject[], options: { allNamespaces: boolean; nowMs: number }): string {
  const header = [...(options.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'TYPE', 'DATA', 'AGE'];
  return formatTable(header, items.map((item) => [
    ...(options.allNamespaces ? [item.metadata.namespace ?? ''] : []),
    item.metadata.name,
    typeof item.type === 'string' ? item.type : '',
    isRedacted(item) ? '<redacted>' : String(keysOf(item.data).length),
    age(item.metadata.creationTimestamp, options.nowMs),
  ]));
}

/** `secret get` in the table view: the object's particulars, then each key with its size or, with reveal, its value. */
export function describeSecret(secret: K8sObject, options: { reveal: boolean; nowMs: number }): string {
  const meta = secret.metadata;
  const fields: [string, string][] = [
    ['Name', meta.name],
    ['Namespace', meta.namespace ?? ''],
    ['Type', typeof secret.type === 'string' ? secret.type : ''],
  ];
  if (secret.immutable === true) fields.push(['Immutable', 'true']);
  const labels = Object.entries(meta.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  if (labels !== '') fields.push(['Labels', labels]);
  fields.push(['ResourceVersion', meta.resourceVersion ?? ''], ['Age', age(meta.creationTimestamp, options.nowMs)]);
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  let text = fields.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`.trimEnd()).join('\n') + '\n\nData\n====\n';
  if (isRedacted(secret)) return `${text}<redacted: you may list this Secret but not get it>\n`;
  const data = (typeof secret.data === 'object' && secret.data !== null ? secret.data : {}) as Record<string, unknown>;
  const keys = keysOf(data);
  const keyWidth = Math.max(0, ...keys.map((k) => k.length)) + 2;
  for (const key of keys) {
    const encoded = data[key];
    const bytes = Buffer.from(typeof encoded === 'string' ? encoded : '', 'base64');
    try {
      text += `${`${key}:`.padEnd(keyWidth)}${options.reveal ? shown(bytes, encoded) : `${bytes.length} bytes`}\n`;
    } finally {
      bytes.fill(0);
    }
  }
  return text;
}

/** A revealed value: as text when it is printable UTF-8 on one line, otherwise as base64 (said so). */
function shown(bytes: Buffer, encoded: unknown): string {
  try {
    const textValue = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    // eslint-disable-next-line no-control-regex -- control characters are exactly what must not reach the terminal raw
    if (!/[\u0000-\u001f\u007f]/.test(textValue)) return textValue;
  } catch {
    // not UTF-8: shown as base64 below
  }
  return `base64:${typeof encoded === 'string' ? encoded : ''}`;
}
