/**
 * bootstrap-ca — creates Coffer's CA and the first certificates (the README's "Scripts"):
 *
 *   node --import tsx scripts/bootstrap-ca.ts [--dir certs] [--members default] [--hosts 127.0.0.1,localhost]
 *                                             [--admin admin] [--days 365] [--force]
 *
 * Writes <dir>/ca.crt, ca.key (encrypted PKCS#8 when COFFER_CA_PASSPHRASE is set), crl.pem,
 * issued.json, members/<name>.{crt,key} for each member (all --hosts as SANs), the member's unseal key
 * members/<name>.unseal.key (32 random bytes, mode 0600; one that exists is kept, even with --force,
 * since it is what opens the member's data — if it is the caller's own private key file, otherwise
 * refused before anything is written), and
 * clients/<admin>.{crt,key,p12} in group system:masters; the .p12 password is COFFER_P12_PASSWORD or a
 * generated one written to clients/<admin>.p12.pass. Defaults suit `npm start` (one member, `default`);
 * a local three-member cluster uses `--members m1,m2,m3`. `--days` is the members' and admin's validity;
 * the CA is valid for caValidityDaysDefault days (or `--days`, if longer).
 *
 * Refuses (exit 1, nothing written) if <dir> already has a CA, unless --force.
 */
import { Command } from 'commander';
import { createKeyFile, KeyFileError, ownKeyFileExists } from '../src/crypto/index.ts';
import { bootstrapCa, bootstrapDefaults, caLayout, isPkiError } from '../src/pki/index.ts';

const list = (value: string): string[] => value.split(',').map((v) => v.trim()).filter((v) => v !== '');

function positiveInt(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1) throw new Error(`--days "${value}" is not a positive whole number`);
  return Number(value);
}

const program = new Command('bootstrap-ca')
  .description('create the Coffer CA and the first member and admin certificates')
  .option('--dir <dir>', 'CA directory', bootstrapDefaults.dir)
  .option('--members <names>', 'comma-separated member names', list, [...bootstrapDefaults.members])
  .option('--hosts <hosts>', 'comma-separated DNS names / IPs put into every member certificate', list, [...bootstrapDefaults.hosts])
  .option('--admin <user>', 'user name of the admin client certificate (group system:masters)', bootstrapDefaults.admin)
  .option('--days <n>', 'validity of member and admin certificates in days', positiveInt, bootstrapDefaults.days)
  .option('--force', 'replace an existing CA', false)
  .showSuggestionAfterError(true);

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error; // `| head` closed the pipe; the files are written already
});

program.parse();
const options = program.opts<{ dir: string; members: string[]; hosts: string[]; admin: string; days: number; force: boolean }>();
const env = (name: string): string | undefined => (process.env[name] === '' ? undefined : process.env[name]);

try {
  const passphrase = env('COFFER_CA_PASSPHRASE');
  const p12Password = env('COFFER_P12_PASSWORD');
  // Before anything is written: an unseal key there must be the caller's own to be kept.
  const unsealKeys = await Promise.all(options.members.map(async (name) => {
    const file = caLayout(options.dir).memberUnsealKey(name);
    return { file, kept: await ownKeyFileExists(file) };
  }));
  const result = await bootstrapCa({ ...options, passphrase, p12Password });
  process.stdout.write(`bootstrap-ca: created CA ${result.caSerial} in ${options.dir}/` +
    `${passphrase === undefined ? ' (ca.key NOT encrypted: set COFFER_CA_PASSPHRASE to encrypt it)' : ' (ca.key encrypted)'}\n`);
  for (const file of result.files) process.stdout.write(`  ${file}\n`);
  for (const { file, kept } of unsealKeys) {
    if (!kept) await createKeyFile(file);
    process.stdout.write(`  ${file}${kept ? ' (kept: it opens the member\'s data)' : ''}\n`);
  }
  process.stdout.write(`members: ${options.members.join(', ')}; hosts: ${options.hosts.join(', ')}; admin: ${options.admin} (system:masters)\n`);
  process.stdout.write('each member unseals with its members/<name>.unseal.key (--unseal-key-file); keep it apart from the member\'s data, ' +
    'or unseal with a passphrase or a KMS plugin instead\n');
} catch (error) {
  const message = isPkiError(error) || error instanceof KeyFileError ? error.message : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
  process.stderr.write(`bootstrap-ca: ${message}\n`);
  process.exitCode = 1;
}
