/**
 * `coffer render [-n NS] --secret NAME… [--configmap NAME]… (--dir DIR | --template FILE --out FILE)
 * [--stage current|pending] [--once]` — writes the values as files, mode 0600, each replaced atomically:
 * with --dir one file per key (deliver/directory.ts), with --template one file from a template
 * (deliver/template.ts). Then it follows changes and writes again (deliver/follower.ts), until
 * Ctrl-C or SIGTERM (exit 0); --once writes and exits, for init steps.
 *
 * A change that cannot be written (a template naming a key that is gone) is reported and the files
 * stay as they were. Exit 1 with one line when the values cannot be read or the members refuse the
 * caller. Values are never printed.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { bytesInWords } from '../../client/index.ts';
import { renderTemplateBytesMax } from '../../config/index.ts';
import { privateFileMode, writeFileAtomic } from '../../pki/index.ts';
import { DirectoryWriter } from '../deliver/directory.ts';
import { addSourceOptions, describeSnapshot, followerFor, type SourceFlags, sourcesOf } from '../deliver/flags.ts';
import type { Source, SourceValues } from '../deliver/sources.ts';
import { parseTemplate, renderTemplate } from '../deliver/template.ts';
import { CliError, describeCode } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { k8sAction } from './k8s-common.ts';

interface RenderFlags extends SourceFlags {
  dir?: string;
  template?: string;
  out?: string;
  once: boolean;
}

export function registerRenderCommand(program: Command, io: CliIo): void {
  addSourceOptions(program.command('render'), false)
    .description('write Secret and ConfigMap values as files (mode 0600, replaced atomically) and keep them current')
    .option('--dir <dir>', 'one file per key in this directory')
    .option('--template <file>', 'a template with {{ secret "NAME" "KEY" }} and {{ configmap "NAME" "KEY" }} (with --out)')
    .option('--out <file>', 'where --template writes')
    .option('--once', 'write once and exit', false)
    .action(k8sAction(async (command) => {
      const flags = command.optsWithGlobals<RenderFlags>();
      const sources = sourcesOf(flags, false);
      const write = await writerFor(flags, sources);
      const where = flags.dir ?? flags.out ?? '';
      const notice = (line: string) => io.err(`coffer render: ${line}\n`);
      const follower = followerFor(flags, sources, io, 'render', async (snapshot) => {
        try {
          notice(`wrote ${await write(snapshot)} (${describeSnapshot(snapshot)})`);
        } catch (error) {
          if (!(error instanceof CliError)) throw error;
          notice(`${error.message}; ${where} stays as it was`);
        }
      });
      try {
        const first = await follower.read();
        notice(`wrote ${await write(first)} (${describeSnapshot(first)})`);
      } catch (error) {
        follower.stop();
        throw error;
      }
      if (flags.once) {
        follower.stop();
        return;
      }
      let stopped: () => void = () => undefined;
      const signalled = new Promise<void>((resolve) => { stopped = resolve; });
      process.once('SIGINT', stopped);
      process.once('SIGTERM', stopped);
      follower.follow();
      try {
        await Promise.race([signalled, follower.failed]);
      } finally {
        follower.stop();
        process.off('SIGINT', stopped);
        process.off('SIGTERM', stopped);
      }
    }));
}

/** What one write does: files in --dir, or --template rendered to --out; resolves with what it wrote, in words. */
async function writerFor(flags: RenderFlags, sources: readonly Source[]): Promise<(snapshot: readonly SourceValues[]) => Promise<string>> {
  if ((flags.dir === undefined) === (flags.template === undefined)) throw new CliError('give either --dir or --template (with --out)');
  if (flags.dir !== undefined) {
    if (flags.out !== undefined) throw new CliError('--out goes with --template; --dir names the directory');
    const directory = new DirectoryWriter(flags.dir);
    const dir = flags.dir;
    return async (snapshot) => {
      const files = await directory.write(snapshot);
      return `${files} ${files === 1 ? 'file' : 'files'} in ${dir}`;
    };
  }
  const file = flags.template as string;
  if (flags.out === undefined) throw new CliError('--template needs --out FILE');
  const out = flags.out;
  const size = (await stat(file).catch(() => { throw new CliError(`cannot read template ${file}`); })).size;
  if (size > renderTemplateBytesMax) throw new CliError(`template ${file} is ${bytesInWords(size)}, over the ${bytesInWords(renderTemplateBytesMax)} limit`);
  const template = parseTemplate(await readFile(file, 'utf8'), sources, file);
  return async (snapshot) => {
    const bytes = renderTemplate(template, snapshot, file);
    try {
      await writeFileAtomic(out, bytes, privateFileMode).catch((error: unknown) => {
        throw new CliError(`cannot write ${out}: ${describeCode(error) ?? 'unknown error'}`);
      });
    } finally {
      bytes.fill(0);
    }
    return out;
  };
}
