/**
 * The environment `coffer exec` gives its program: exec's own without Coffer's credentials
 * (credentialVariables), and each key as a variable named after it — upper-cased, every character other
 * than A–Z, 0–9 and "_" made "_", "_" in front of a leading digit — after the source's prefix
 * (`--secret db:DB_` turns key `password` into DB_PASSWORD). Two keys that would set the same variable,
 * and a value that cannot be one (a NUL byte, not UTF-8), are refused by name.
 *
 * Whoever may edit a source chooses the variable names, and RBAC may let them edit a ConfigMap without
 * reading the Secrets the same program gets: a key `path` or `ld_preload` would choose the program exec
 * starts, or the code it loads, and so hand them its Secrets. So a key may not set a variable exec's own
 * environment sets (PATH, HOME, …), nor one that changes how programs are loaded or run
 * (programControlVariables), whatever the prefix.
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

/**
 * Variables that choose the code a program runs or whom it trusts, whether or not exec's environment
 * sets them: the dynamic loader's (glibc's list of variables it ignores for setuid programs among them),
 * interpreters' start-up options and module paths, shells' start-up files and functions, and the proxies
 * and CA bundles of TLS clients.
 */
const programControlVariables: readonly RegExp[] = [
  /^(LD|DYLD|MALLOC|BASH_FUNC)_/,
  /^(PATH|IFS|ENV|BASH_ENV|SHELLOPTS|BASHOPTS|CDPATH|GLOBIGNORE|PS4|PROMPT_COMMAND)$/,
  /^(GCONV_PATH|GETCONF_DIR|HOSTALIASES|LOCALDOMAIN|LOCPATH|NIS_PATH|NLSPATH|RESOLV_HOST_CONF|RES_OPTIONS|TMPDIR|TZDIR)$/,
  /^(NODE_OPTIONS|NODE_PATH|NODE_EXTRA_CA_CERTS|NODE_TLS_REJECT_UNAUTHORIZED|NODE_REPL_EXTERNAL_MODULE)$/,
  /^(PYTHON(PATH|HOME|STARTUP|INSPECT|USERBASE|EXECUTABLE|WARNINGS|BREAKPOINT)|PERL5(LIB|OPT|DB)|PERLLIB|PERL_MB_OPT|RUBY(OPT|LIB)|GEM_(HOME|PATH))$/,
  /^(JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS|CLASSPATH|GOFLAGS|GODEBUG|DOTNET_STARTUP_HOOKS|CORECLR_PROFILER(_PATH)?|CORECLR_ENABLE_PROFILING)$/,
  /^(HTTPS?_PROXY|ALL_PROXY|NO_PROXY|SSL_CERT_(FILE|DIR)|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|GIT_SSL_CAINFO|OPENSSL_CONF|OPENSSL_ENGINES)$/,
];

export function variableName(prefix: string, key: string): string {
  const name = `${prefix}${key}`.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/**
 * The variables the sources set, in the order given (a collision is an error, not a silent override);
 * `inherited` is the environment the program starts from, whose variables a key may not replace.
 */
export function variablesOf(snapshot: readonly SourceValues[], inherited: Readonly<Record<string, string | undefined>>): Map<string, string> {
  const variables = new Map<string, string>();
  const from = new Map<string, string>();
  for (const { source, values } of snapshot) {
    for (const [key, value] of [...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const name = variableName(source.prefix, key);
      const where = `key ${JSON.stringify(key)} of ${describeSource(source)}`;
      const earlier = from.get(name);
      if (earlier !== undefined) throw new CliError(`${where} and ${earlier} would both set ${name}: give one source a prefix (NAME:PREFIX)`);
      if (programControlVariables.some((pattern) => pattern.test(name))) {
        throw new CliError(`${where} would set ${name}, which chooses what code the program runs or whom it trusts; exec never sets it from a value`);
      }
      if (inherited[name] !== undefined) {
        throw new CliError(`${where} would replace ${name} of exec's own environment: give the source a prefix (NAME:PREFIX), or unset ${name}`);
      }
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
