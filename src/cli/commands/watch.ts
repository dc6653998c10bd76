/**
 * `coffer watch secrets|configmaps [-n NS | -A] [--since REV]` — one line per change: the event type,
 * namespace/name and the resourceVersion it happened at. Without --since, the objects that exist now
 * come first as ADDED (as `kubectl get -w` lists before watching); with --since REV, only the changes
 * after revision REV. Runs until interrupted; if the member ends the stream, says from where to go on
 * and exits non-zero.
 *
 * Invariant: only metadata is printed — never a value, whatever the output format.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { K8sResource, K8sWatchEvent } from '../../client/index.ts';
import type { CliIo } from '../io.ts';
import { formatData, type OutputFormat } from '../options.ts';
import { CliError } from '../errors.ts';
import { addNamespaceOptions, connectK8s, k8sAction, type K8sCommandOptions, type NamespaceFlags, namespaceOf } from './k8s-common.ts';

const watchable: Readonly<Record<string, K8sResource>> = {
  secrets: 'secrets', secret: 'secrets', configmaps: 'configmaps', configmap: 'configmaps',
};

export function registerWatchCommand(program: Command, io: CliIo): void {
  addNamespaceOptions(program.command('watch <resource>'), true)
    .description('print a line for every change to secrets or configmaps (never their values)')
    .option('--since <revision>', 'only changes after this resourceVersion', parseRevision)
    .action(k8sAction(async (command, resourceName: string) => {
      const options = command.optsWithGlobals<K8sCommandOptions & NamespaceFlags & { since?: string }>();
      // Own members only: `constructor`, `toString` or `__proto__` would find what every object inherits.
      const resource = Object.hasOwn(watchable, resourceName) ? watchable[resourceName] : undefined;
      if (resource === undefined) throw new CliError(`cannot watch ${JSON.stringify(resourceName)}: choose secrets or configmaps`);
      const namespace = namespaceOf(options);
      const client = await connectK8s(options, io);
      try {
        const watch = await client.watch(resource, {
          ...(namespace === undefined ? {} : { namespace }), ...(options.since === undefined ? {} : { resourceVersion: options.since }),
        });
        let last = options.since;
        for await (const event of watch) {
          if (event.type === 'BOOKMARK') continue;
          last = event.object.metadata.resourceVersion ?? last;
          io.out(formatEvent(event, options.output));
        }
        throw new CliError(`the member ended the watch${last === undefined ? '' : `; continue with --since ${last}`}`);
      } finally {
        client.close();
      }
    }));
}

function parseRevision(value: string): string {
  if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`"${value}" is not a revision (a whole number)`);
  return String(Number(value));
}

/** One event as printed: `TYPE namespace/name resourceVersion`, or those fields alone as JSON / YAML. */
export function formatEvent(event: K8sWatchEvent, format: OutputFormat): string {
  const { namespace, name, resourceVersion } = event.object.metadata;
  if (format === 'table') return `${event.type.padEnd(8)} ${namespace === undefined ? '' : `${namespace}/`}${name} ${resourceVersion ?? ''}\n`.replace(/ \n$/, '\n');
  const fields = { type: event.type, ...(namespace === undefined ? {} : { namespace }), name, resourceVersion: resourceVersion ?? '' };
  return format === 'json' ? `${JSON.stringify(fields)}\n` : `---\n${formatData('yaml', fields)}`;
}
