/**
 * The environment `coffer exec` gives its program: exec's own without Coffer's credentials
 * (credentialVariables), and each key as a variable named after it — upper-cased, every character other
 * than A–Z, 0–9 and "_" made "_", "_" in front of a leading digit — after the source's prefix
 * (`--secret db:DB_` turns key `password` into DB_PASSWORD). Two keys that would set the same variable,
 * and a value that cannot be one (a NUL byte, not UTF-8), are refused by name.
 */
import { CliError } from '../errors.ts';
import { describeSource, type SourceValues } from './sources.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The variables through which the operator hands Coffer its own credentials — passphrases, and the
 * client certificate and key that exec itself connects with — read by `coffer server`
 * (COFFER_UNSEAL_PASSPHRASE), `coffer snapshot` (COFFER_BACKUP_PASSPHRASE), `coffer ca` and
 * scripts/bootstrap-ca.ts (COFFER_CA_PASSPHRASE, COFFER_P12_PASSWORD) and every client command
 * (COFFER_CERT, COFFER_KEY; src/cli/connection.ts). The program exec runs is not Coffer: as `vault agent`
 * keeps its token from the program it runs, exec keeps these from it. A program that needs one names
 * it itself (`coffer exec … -- env COFFER_CERT=… program`).
 */
const credentialVariables: readonly string[] = [
  'COFFER_UNSEAL_PASSPHRASE', 'COFFER_BACKUP_PASSPHRASE', 'COFFER_CA_PASSPHRASE', 'COFFER_P12_PASSWORD', 'COFFER_CERT', 'COFFER_KEY',
];

/** `env` without credentialVariables: what the program starts from, before its values are added. */
export function withoutCredentials(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const kept = { ...env };
  for (const name of credentialVariables) delete kept[name];
  return kept;
}

export function variableName(prefix: string, key: string): string {
  const name = `${prefix}${key}`.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/** The variables the sources set, in the order given (a collision is an error, not a silent override). */
export function variablesOf(snapshot: readonly SourceValues[]): Map<string, string> {
  const variables = new Map<string, string>();
  const from = new Map<string, string>();
  for (const { source, values } of snapshot) {
    for (const [key, value] of [...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const name = variableName(source.prefix, key);
      const where = `key ${JSON.stringify(key)} of ${describeSource(source)}`;
      const earlier = from.get(name);
      if (earlier !== undefined) throw new CliError(`${where} and ${earlier} would both set ${name}: give one source a prefix (NAME:PREFIX)`);
      let text: string;
      try {
        text = utf8.decode(value);
      } catch {
        throw new CliError(`${where} is not UTF-8 text, so it cannot be the environment variable ${name} (coffer render writes it to a file)`);
      }
      if (text.includes('\0')) throw new CliError(`${where} holds a NUL byte, so it cannot be the environment variable ${name} (coffer render writes it to a file)`);
      variables.set(name, text);
      from.set(name, where);
    }
  }
  return variables;
}
