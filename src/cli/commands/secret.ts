/**
 * `coffer secret create | get | list | delete | versions | rotate | promote | rollback` over the
 * Kubernetes-shaped API (versions, rotate, promote and rollback are Coffer's subresources in group
 * coffer.dev). `rotate --stage` leaves the Secret as it is and keeps the new keys as the pending stage
 * (`get --stage pending` shows them) until `promote` makes them current.
 *
 * Values are never printed by default: `get` shows each key with its size, and only `--reveal` shows
 * the values; `-o json|yaml` prints the API object exactly as the server returned it (data in
 * base64), which is asking for the values too. A list shows `<redacted>` for the Secrets the server
 * sent without data (the caller may list but not get them). Bytes read for --from-file are wiped once
 * encoded.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { setOwnMember } from '../../base/index.ts';
import { isK8sApiError, type K8sObject, type SecretVersionInfo } from '../../client/index.ts';
import { generatedValueCharsMax } from '../../config/index.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable, parsePositiveInt } from '../options.ts';
import { CliError } from '../errors.ts';
import { isBlock, shownValue, valueBlock } from '../shown.ts';
import { addNamespaceOptions, age, connectK8s, isRedacted, k8sAction, type K8sCommandOptions, keysOf, type NamespaceFlags, namespaceOf, readSources, repeat, wipeAll } from './k8s-common.ts';

interface CreateFlags extends K8sCommandOptions, NamespaceFlags {
  fromLiteral?: string[];
  fromFile?: string[];
  type: string;
  immutable: boolean;
}

export function registerSecretCommands(program: Command, io: CliIo): void {
  const secret = program.command('secret').description('create, read, list and delete Secrets (values hidden unless --reveal)');
  addCreateCommand(secret, io);
  addGetCommand(secret, io);
  addListCommand(secret, io);
  addVersionsCommand(secret, io);
  addRotateCommand(secret, io);
  addPromoteCommand(secret, io);
  addRollbackCommand(secret, io);
  addDeleteCommand(secret, io);
}

/** `secret create NAME`: a Secret from literals and files, whose bytes are wiped once encoded. */
function addCreateCommand(secret: Command, io: CliIo): void {
  addNamespaceOptions(secret.command('create <name>'), false)
    .description('create a Secret from literals and files (with neither, an empty one, as kubectl does)')
    .option('--from-literal <key=value>', 'a key and its value; repeatable', repeat)
    .option('--from-file <[key=]path>', 'a key and a file, pipe or KEY=- (standard input, once) holding its value (key defaults to the file name); repeatable', repeat)
    .option('--type <type>', 'the Secret type', 'Opaque')
    .option('--immutable', 'the data can never be changed (delete and create again instead)', false)
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<CreateFlags>();
      const namespace = namespaceOf(options) as string;
      const entries = await readSources(options.fromLiteral ?? [], options.fromFile ?? [], io.stdin);
      let body: K8sObject;
      try {
        const data: Record<string, string> = {};
        // A file named __proto__ is a data key like any other, never the prototype.
        for (const [key, value] of entries) setOwnMember(data, key, value.toString('base64'));
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
}

/** `secret get NAME`: keys and sizes, the values with --reveal, or a version or stage of the data. */
function addGetCommand(secret: Command, io: CliIo): void {
  addNamespaceOptions(secret.command('get <name>'), false)
    .description('show a Secret: its keys and their sizes, or the values with --reveal')
    .option('--reveal', 'show the values', false)
    .option('--version <n>', 'show version N of the data instead of the current one (see `secret versions`)', parsePositiveInt)
    .option('--stage <stage>', 'show the data at a stage instead: current, previous or pending (staged by rotate --stage)', parseStage)
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags & { reveal: boolean; version?: number; stage?: Stage }>();
      if (options.version !== undefined && options.stage !== undefined) throw new CliError('give at most one of --version and --stage');
      const client = await connectK8s(options, io);
      try {
        if (options.version !== undefined || options.stage !== undefined) {
          const target = { namespace: namespaceOf(options) as string };
          const version = options.stage !== undefined ? await client.secretStage(name, options.stage, target) : await client.secretVersion(name, options.version!, target);
          io.out(options.output === 'table' ? describeVersion(version, { reveal: options.reveal }) : formatData(options.output, version));
          return;
        }
        const found = await client.get('secrets', name, { namespace: namespaceOf(options) as string });
        io.out(options.output === 'table' ? describeSecret(found, { reveal: options.reveal, nowMs: Date.now() }) : formatData(options.output, found));
      } finally {
        client.close();
      }
    }));
}

/** `secret list`: the Secrets of a namespace or of all of them, `<redacted>` where the server sent no data. */
function addListCommand(secret: Command, io: CliIo): void {
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
}

/** `secret versions NAME`: the version history, without values. */
function addVersionsCommand(secret: Command, io: CliIo): void {
  addNamespaceOptions(secret.command('versions <name>'), false)
    .description("list a Secret's versions: number, stage (current, previous, pending), when, by whom (no values)")
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags>();
      const client = await connectK8s(options, io);
      try {
        const list = await client.secretVersions(name, { namespace: namespaceOf(options) as string });
        io.out(options.output === 'table' ? versionTable(list.items) : formatData(options.output, list));
      } finally {
        client.close();
      }
    }));
}

/** `secret rotate NAME`: a new version from literals or server-generated values, or a pending stage. */
function addRotateCommand(secret: Command, io: CliIo): void {
  addNamespaceOptions(secret.command('rotate <name>'), false)
    .description('write a new version: the given literals, or values the server generates (other keys are kept)')
    .option('--from-literal <key=value>', 'a key and its new value; repeatable', repeat)
    .option('--generate <key[:length[:charset]]>', 'a key the server fills with a random value (length 32, charset alnum|hex|base64|ascii, default alnum); repeatable', repeat)
    .option('--stage', 'keep the new values as the pending stage, leaving the Secret unchanged until `secret promote`', false)
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags & { fromLiteral?: string[]; generate?: string[]; stage: boolean }>();
      const literals = options.fromLiteral ?? [];
      const generate = (options.generate ?? []).map(parseGenerate);
      if (literals.length === 0 && generate.length === 0) {
        throw new CliError('give the new values: --from-literal KEY=VALUE or --generate KEY[:LENGTH[:CHARSET]] (each repeatable)');
      }
      if (literals.length > 0 && generate.length > 0) throw new CliError('give either --from-literal or --generate (one or more times), not both');
      let body: { data: Record<string, string> } | { generate: { key: string; length?: number; charset?: string }[] };
      if (generate.length > 0) body = { generate };
      else {
        const entries = await readSources(literals, []);
        try {
          body = { data: Object.fromEntries([...entries].map(([key, value]) => [key, value.toString('base64')])) };
        } finally {
          wipeAll(entries);
        }
      }
      const client = await connectK8s(options, io);
      try {
        const rotated = await client.rotateSecret(name, { ...body, ...(options.stage ? { stage: true } : {}) }, { namespace: namespaceOf(options) as string });
        // The response holds the new values: printed only when asked for with -o json|yaml.
        const done = options.stage ? `secret/${name} staged (pending); promote it with: coffer secret promote ${name}\n` : `secret/${name} rotated\n`;
        io.out(options.output === 'table' ? done : formatData(options.output, rotated));
      } finally {
        client.close();
      }
    }));
}

/** `secret promote NAME`: the pending stage becomes the current data. */
function addPromoteCommand(secret: Command, io: CliIo): void {
  addNamespaceOptions(secret.command('promote <name>'), false)
    .description('make the pending stage (rotate --stage) the current data, as a new version')
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags>();
      const client = await connectK8s(options, io);
      try {
        const target = { namespace: namespaceOf(options) as string };
        const promoted = await client.promoteSecret(name, target).catch(async (error: unknown) => {
          // 409 is also a write that lost a race: only an empty pending stage gets the advice.
          if (!isK8sApiError(error) || error.code !== 409) throw error;
          const { items } = await client.secretVersions(name, target);
          if (items.some((v) => v.stage === 'pending')) throw error;
          throw new CliError(`secret ${name} has nothing staged to promote: stage new values first with ` +
            `coffer secret rotate ${name} --stage (--generate KEY or --from-literal KEY=VALUE)`);
        });
        io.out(options.output === 'table' ? `secret/${name} promoted\n` : formatData(options.output, promoted));
      } finally {
        client.close();
      }
    }));
}

/** `secret rollback NAME --to N`: a new version holding version N's data. */
function addRollbackCommand(secret: Command, io: CliIo): void {
  addNamespaceOptions(secret.command('rollback <name>'), false)
    .description("write a new version holding version N's data")
    .requiredOption('--to <n>', 'the version whose data becomes current again', parsePositiveInt)
    .action(k8sAction(async (command, name: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags & { to: number }>();
      const client = await connectK8s(options, io);
      try {
        const rolled = await client.rollbackSecret(name, options.to, { namespace: namespaceOf(options) as string });
        io.out(options.output === 'table' ? `secret/${name} rolled back to the data of version ${options.to}\n` : formatData(options.output, rolled));
      } finally {
        client.close();
      }
    }));
}

/** `secret delete NAME`. */
function addDeleteCommand(secret: Command, io: CliIo): void {
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
  const text = fields.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`.trimEnd()).join('\n') + '\n\nData\n====\n';
  if (isRedacted(secret)) return `${text}<redacted: you may list this Secret but not get it>\n`;
  return text + describeData(secret.data, options.reveal);
}

/** `secret versions` as a table: VERSION, STAGE (current, previous, pending), CREATED (UTC), CREATED BY. */
export function versionTable(items: readonly SecretVersionInfo[]): string {
  return formatTable(['VERSION', 'STAGE', 'CREATED', 'CREATED BY'], items.map((v) => [
    String(v.version), v.stage ?? (v.current ? 'current' : ''), v.createdAt, v.createdBy !== '' ? v.createdBy : '<unknown>',
  ]));
}

type Stage = 'current' | 'previous' | 'pending';

function parseStage(value: string): Stage {
  if (value !== 'current' && value !== 'previous' && value !== 'pending') throw new InvalidArgumentError(`"${value}" is not one of current, previous, pending`);
  return value;
}

/** `secret get --version N` in the table view: which version, when and by whom, then its keys (values with reveal). */
export function describeVersion(version: K8sObject, options: { reveal: boolean }): string {
  const v = version as K8sObject & { version?: unknown; createdAt?: unknown; createdBy?: unknown; current?: unknown; stage?: unknown };
  const fields: [string, string][] = [
    ['Name', version.metadata.name],
    ['Namespace', version.metadata.namespace ?? ''],
    ['Version', `${String(v.version)}${typeof v.stage === 'string' && v.stage !== '' ? ` (${v.stage})` : v.current === true ? ' (current)' : ''}`],
    ['Created', (typeof v.createdAt === 'string' ? v.createdAt : '')],
    ['CreatedBy', typeof v.createdBy === 'string' && v.createdBy !== '' ? v.createdBy : '<unknown>'],
  ];
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  return fields.map(([k, val]) => `${`${k}:`.padEnd(width)}${val}`.trimEnd()).join('\n') + '\n\nData\n====\n' + describeData(version.data, options.reveal);
}

/**
 * Each key with its size or, with reveal, its value (shown.ts: a value of several lines as a block
 * under its key); decoded bytes are wiped once printed.
 */
function describeData(raw: unknown, reveal: boolean): string {
  let text = '';
  const data = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const keys = keysOf(data);
  const keyWidth = Math.max(0, ...keys.map((k) => k.length)) + 2;
  for (const key of keys) {
    const encoded = data[key];
    const bytes = Buffer.from(typeof encoded === 'string' ? encoded : '', 'base64');
    try {
      const value = reveal ? shownValue(bytes) : `${bytes.length} bytes`;
      text += isBlock(value) ? valueBlock(key, value) : `${`${key}:`.padEnd(keyWidth)}${value}\n`;
    } finally {
      bytes.fill(0);
    }
  }
  return text;
}

/**
 * `key[:length[:charset]]` of --generate. A length that is a whole number outside 1 to
 * generatedValueCharsMax, however many digits, is one range error naming the limit; the charset is
 * checked by the server.
 */
export function parseGenerate(spec: string): { key: string; length?: number; charset?: string } {
  const [key = '', length, charset, ...extra] = spec.split(':');
  if (key === '' || extra.length > 0 || (length !== undefined && !/^\d+$/.test(length))) {
    throw new CliError(`--generate ${JSON.stringify(spec)} must be key[:length[:charset]]`);
  }
  const chars = length === undefined ? undefined : Number(length);
  if (chars !== undefined && (chars < 1 || chars > generatedValueCharsMax)) {
    throw new CliError(`--generate ${JSON.stringify(spec)}: the length must be from 1 to ${generatedValueCharsMax} characters`);
  }
  return { key, ...(chars !== undefined ? { length: chars } : {}), ...(charset !== undefined ? { charset } : {}) };
}
