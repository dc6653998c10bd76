/**
 * The flags `coffer exec` and `coffer render` share — which Secrets and ConfigMaps (-n, --secret,
 * --configmap), which stage of a Secret (--stage), how often to read them again (--check-interval) —
 * and the Follower they make, with the global connection flags.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { deliverCheckIntervalMsDefault, deliverCheckIntervalMsMin } from '../../config/index.ts';
import { addNamespaceOptions, type K8sCommandOptions, type NamespaceFlags, namespaceOf, repeat } from '../commands/k8s-common.ts';
import { credentialFilesOf, endpointsOf } from '../connection.ts';
import { CliError } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { parseDuration } from '../options.ts';
import { Follower } from './follower.ts';
import { parseSource, type Source, type SourceValues } from './sources.ts';

export interface SourceFlags extends K8sCommandOptions, NamespaceFlags {
  secret?: string[];
  configmap?: string[];
  stage: 'current' | 'pending';
  checkInterval: number;
}

export function addSourceOptions(command: Command, prefixes: boolean): Command {
  const prefix = prefixes ? '[:PREFIX]' : '';
  return addNamespaceOptions(command, false)
    .option(`--secret <NAME${prefix}>`, `a Secret whose keys to deliver${prefixes ? ', with PREFIX before each variable name' : ''}; repeatable`, repeat)
    .option(`--configmap <NAME${prefix}>`, 'a ConfigMap whose keys to deliver; repeatable', repeat)
    .option('--stage <stage>', 'current, or pending: a Secret\'s pending stage while it has one (rotate --stage), else its current data', parseStage, 'current')
    .option('--check-interval <duration>', `how often to read every source again besides watching (finds a new pending stage; default ${deliverCheckIntervalMsDefault / 1000}s)`,
      parseCheckInterval, deliverCheckIntervalMsDefault);
}

/** The sources the flags name, in the order given (Secrets first); at least one. */
export function sourcesOf(flags: SourceFlags, prefixes: boolean): Source[] {
  const namespace = namespaceOf(flags) as string;
  const sources = [
    ...(flags.secret ?? []).map((text) => parseSource('secret', text, namespace)),
    ...(flags.configmap ?? []).map((text) => parseSource('configmap', text, namespace)),
  ];
  if (sources.length === 0) throw new CliError('give at least one --secret or --configmap');
  if (!prefixes && sources.some((s) => s.prefix !== '')) throw new CliError('NAME:PREFIX names environment variables, which only exec sets');
  return sources;
}

export function followerFor(flags: SourceFlags, sources: readonly Source[], io: CliIo, name: string,
  onChange: (snapshot: readonly SourceValues[]) => Promise<void>): Follower {
  return new Follower({
    endpoints: endpointsOf(flags, io), credentials: credentialFilesOf(flags, io), sources, stage: flags.stage,
    checkIntervalMs: flags.checkInterval, onChange, notice: (line) => io.err(`coffer ${name}: ${line}\n`),
  });
}

/** `secret default/db@12 (pending)`: where values came from, for a notice. */
export function describeSnapshot(snapshot: readonly SourceValues[]): string {
  return snapshot.map((s) => `${s.source.kind} ${s.source.namespace}/${s.source.name}@${s.resourceVersion}${s.stage === 'pending' ? ' (pending)' : ''}`).join(', ');
}

function parseStage(value: string): 'current' | 'pending' {
  if (value !== 'current' && value !== 'pending') throw new InvalidArgumentError(`"${value}" is not one of current, pending`);
  return value;
}

function parseCheckInterval(value: string): number {
  const ms = parseDuration(value);
  if (ms < deliverCheckIntervalMsMin) throw new InvalidArgumentError(`"${value}" is shorter than ${deliverCheckIntervalMsMin / 1000}s`);
  return ms;
}
