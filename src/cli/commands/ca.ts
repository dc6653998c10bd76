/**
 * `coffer ca init | issue | revoke | list` — the built-in CA, operated on its directory (issuing
 * through the API comes with the API). Same code as scripts/bootstrap-ca.ts (src/pki). `issue
 * --member` also writes the member's unseal key members/<name>.unseal.key (mode 0600) if it has none;
 * one there that is not the caller's own private key file (ownKeyFileExists) is refused before anything
 * is issued.
 *
 * Secrets come from the environment, never from flags (flags show up in `ps` and shell history):
 * COFFER_CA_PASSPHRASE encrypts / unlocks ca.key; COFFER_P12_PASSWORD, when set, protects a client's
 * .p12, otherwise a random password is generated and written to clients/<user>.p12.pass (0600).
 */
import { type Command, Option } from 'commander';
import {
  caValidityDaysDefault, certValidityDaysDefault,
} from '../../config/index.ts';
import { createKeyFile, KeyFileError, ownKeyFileExists } from '../../crypto/index.ts';
import {
  caLayout, initCa, issueClient, issueMember, listIssued, loadCa, revokeCertificate, type IssuedRecord, type IssueResult,
} from '../../pki/index.ts';
import { CliError } from '../errors.ts';
import { type CliIo, envValue } from '../io.ts';
import { collect, formatData, formatTable, type GlobalOptions, parsePositiveInt } from '../options.ts';

const dirDefault = 'certs';

interface DirOptions {
  dir: string;
}

export function registerCaCommands(program: Command, io: CliIo): void {
  const ca = program.command('ca').description('operate the built-in certificate authority (files under --dir)');
  registerInit(ca, io);
  registerIssue(ca, io);
  registerRevoke(ca, io);
  registerList(ca, io);
}

function registerInit(ca: Command, io: CliIo): void {
  ca.command('init')
    .description('create a new CA: ca.crt, ca.key (encrypted when COFFER_CA_PASSPHRASE is set), crl.pem, issued.json')
    .option('--dir <dir>', 'CA directory', dirDefault)
    .option('--days <n>', 'CA validity in days', parsePositiveInt, caValidityDaysDefault)
    .option('--force', 'replace an existing CA (every certificate it issued stops working)', false)
    .action(async (options: DirOptions & { days: number; force: boolean }) => {
      const result = await initCa({
        dir: options.dir, days: options.days, force: options.force, passphrase: envValue(io, 'COFFER_CA_PASSPHRASE'),
      });
      io.out(`created CA ${result.signer.cert.serialNumber} (${result.signer.cert.subject}), valid until ${result.signer.cert.notAfter.toISOString()}\n`);
      for (const file of result.files) io.out(`  ${file}\n`);
    });
}

function registerIssue(ca: Command, io: CliIo): void {
  ca.command('issue')
    .description('issue a client certificate (--user) or a member certificate (--member with --host)')
    .option('--dir <dir>', 'CA directory', dirDefault)
    .option('--user <user>', 'client certificate for this user (CN)')
    .option('--group <group>', 'a group (O) of the user; repeatable', collect)
    .option('--member <name>', 'member certificate for this member')
    .option('--host <host>', 'a DNS name or IP the member is reached at; repeatable', collect)
    .option('--days <n>', 'validity in days', parsePositiveInt, certValidityDaysDefault)
    .option('--force', 'replace existing files for this name (the old certificate stays valid until revoked)', false)
    .action(async (options: DirOptions & {
      user?: string; group?: string[]; member?: string; host?: string[]; days: number; force: boolean;
    }) => {
      if ((options.user === undefined) === (options.member === undefined)) {
        ca.error('coffer ca issue: give exactly one of --user or --member');
      }
      if (options.member !== undefined && options.group !== undefined) ca.error('coffer ca issue: --group applies to --user only');
      if (options.user !== undefined && options.host !== undefined) ca.error('coffer ca issue: --host applies to --member only');
      const signer = await loadCa(options.dir, envValue(io, 'COFFER_CA_PASSPHRASE'));
      const common = { days: options.days, force: options.force };
      let result: IssueResult;
      if (options.member !== undefined) {
        // The member's unseal key beside its certificate; never replaced (it opens the member's data).
        const unsealKey = caLayout(options.dir).memberUnsealKey(options.member);
        const kept = await ownKeyFileExists(unsealKey).catch((error: unknown) => {
          throw error instanceof KeyFileError ? new CliError(error.message) : error;
        });
        result = await issueMember(signer, { ...common, name: options.member, hosts: options.host ?? [] });
        io.out(`issued member certificate ${options.member}: serial ${result.serial}, valid until ${result.cert.notAfter.toISOString()}\n`);
        if (!kept) {
          await createKeyFile(unsealKey);
          result.files.push(unsealKey);
        }
      } else {
        const user = options.user ?? '';
        const p12Password = envValue(io, 'COFFER_P12_PASSWORD');
        result = await issueClient(signer, { ...common, user, groups: options.group ?? [], p12Password });
        io.out(`issued client certificate ${result.cert.subject}: serial ${result.serial}, valid until ${result.cert.notAfter.toISOString()}\n`);
        io.out(p12Password === undefined
          ? `  the .p12 password is in ${caLayout(options.dir).clientP12Password(user)}\n`
          : '  the .p12 is protected with COFFER_P12_PASSWORD\n');
      }
      for (const file of result.files) io.out(`  ${file}\n`);
    });
}

function registerRevoke(ca: Command, io: CliIo): void {
  ca.command('revoke')
    .description('revoke a certificate by serial and rewrite crl.pem (members pick it up on reload)')
    .argument('<serial>', 'certificate serial (hex, as `coffer ca list` shows it)')
    .option('--dir <dir>', 'CA directory', dirDefault)
    .action(async (serial: string, options: DirOptions) => {
      const signer = await loadCa(options.dir, envValue(io, 'COFFER_CA_PASSPHRASE'));
      const outcome = await revokeCertificate(signer, serial);
      const what = `${outcome.record.kind} ${outcome.record.name} (serial ${outcome.record.serial})`;
      io.out(outcome.alreadyRevoked
        ? `${what} was already revoked at ${outcome.record.revokedAt ?? '?'}; rewrote ${outcome.crlPath}\n`
        : `revoked ${what}; rewrote ${outcome.crlPath}\n`);
    });
}

function registerList(ca: Command, io: CliIo): void {
  ca.command('list')
    .description('list the certificates this CA issued')
    .option('--dir <dir>', 'CA directory', dirDefault)
    .addOption(new Option('--revoked', 'only revoked certificates').default(false))
    .action(async (options: DirOptions & { revoked: boolean }, command: Command) => {
      const { output } = command.optsWithGlobals<GlobalOptions>();
      const records = (await listIssued(options.dir)).filter((r) => !options.revoked || r.revokedAt !== undefined);
      if (output === 'table') io.out(listTable(records));
      else io.out(formatData(output, records));
    });
}

function listTable(records: readonly IssuedRecord[]): string {
  return formatTable(
    ['SERIAL', 'KIND', 'SUBJECT', 'NOT AFTER', 'REVOKED'],
    records.map((r) => [r.serial, r.kind, r.subject, r.notAfter, r.revokedAt ?? '-']),
  );
}
