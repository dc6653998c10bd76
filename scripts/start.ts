/**
 * `npm start` — the embedded default (the README's "Set-up"): bootstraps a CA into certs/ if there is none,
 * creates a development unseal key certs/dev-unseal.key (mode 0600) if there is none (one there must be
 * the caller's own private key file, or it stops with one line), and runs the
 * single member `default` with its data in data/default/, clients on https://127.0.0.1:7443 and peers on
 * 7444. Once the member answers /readyz (its first-start namespaces and policies exist) it prints
 * "default: ready"; clients may start then. Running it again reuses the CA, the key and the data.
 * Ctrl-C stops it cleanly.
 *
 * This is a development set-up: the unseal key sits next to the certificates. A production member
 * takes --passphrase-file, COFFER_UNSEAL_PASSPHRASE or --kms-socket instead.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { createKeyFile, KeyFileError, ownKeyFileExists } from '../src/crypto/index.ts';
import { bootstrapCa, caLayout } from '../src/pki/index.ts';
import { answersOk, readyPollMs } from './readiness.ts';

const certs = caLayout('certs');
const unsealKey = 'certs/dev-unseal.key';
const clientUrl = 'https://127.0.0.1:7443';

if (!existsSync(certs.caCert)) {
  const result = await bootstrapCa({ dir: certs.dir, members: ['default'], hosts: ['127.0.0.1', 'localhost'], admin: 'admin' });
  process.stdout.write(`created a CA and certificates in ${certs.dir}/ (${result.files.length} files)\n`);
}
try {
  if (!(await ownKeyFileExists(unsealKey))) await createKeyFile(unsealKey);
} catch (error) {
  if (!(error instanceof KeyFileError)) throw error;
  process.stderr.write(`start: ${error.message}\n`);
  process.exit(1);
}

process.stdout.write([
  '',
  '*** DEVELOPMENT SET-UP: the unseal key is certs/dev-unseal.key, next to the certificates. ***',
  '*** Anyone who can read certs/ can read the data. Do not store real secrets this way.     ***',
  '',
  `endpoint:          ${clientUrl}`,
  `admin credentials: ${certs.clientCert('admin')} and ${certs.clientKey('admin')} (CA ${certs.caCert}),`,
  `                   as one file: ${certs.clientP12('admin')} (password in ${certs.clientP12Password('admin')})`,
  '',
  'try, in another terminal:',
  `  curl -s --cacert ${certs.caCert} --cert ${certs.clientCert('admin')} --key ${certs.clientKey('admin')} ${clientUrl}/readyz`,
  `  curl -s --cacert ${certs.caCert} --cert ${certs.clientCert('admin')} --key ${certs.clientKey('admin')} ${clientUrl}/v3/kv/put -d '{"key":"aGVsbG8=","value":"d29ybGQ="}'`,
  `  curl -s --cacert ${certs.caCert} --cert ${certs.clientCert('admin')} --key ${certs.clientKey('admin')} ${clientUrl}/v3/kv/range -d '{"key":"aGVsbG8="}'`,
  '',
].join('\n') + '\n');

const member = spawn(process.execPath, [
  '--import', 'tsx', 'src/server/coffer.ts', 'server',
  '--name', 'default', '--data-dir', 'data/default',
  '--listen-client', clientUrl, '--listen-peer', 'https://127.0.0.1:7444',
  '--cert', certs.memberCert('default'), '--key', certs.memberKey('default'), '--cacert', certs.caCert, '--crl', certs.crl,
  '--unseal-key-file', unsealKey, '--log-level', 'warn',
], { stdio: 'inherit' });

// Ctrl-C reaches the member too (same process group); wait for its clean exit and pass its status on.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => member.kill('SIGTERM'));
member.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

const tls = { cert: await readFile(certs.clientCert('admin'), 'utf8'), key: await readFile(certs.clientKey('admin'), 'utf8'), ca: await readFile(certs.caCert, 'utf8') };
// Until the member answers ready; if it exits first, its exit ends this process.
while (!(await answersOk(`${clientUrl}/readyz`, tls))) await delay(readyPollMs);
process.stdout.write(`default: ready on ${clientUrl}\n`);
