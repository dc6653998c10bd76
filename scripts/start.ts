/**
 * `npm start` — the embedded default (the README's "Set-up"): bootstraps a CA into certs/ if there is none,
 * creates a development unseal key certs/dev-unseal.key (mode 0600) if there is none (one there must be
 * the caller's own private key file, or it stops with one line), and runs the
 * single member `default` with its data in data/default/, clients on https://127.0.0.1:7443 and peers on
 * 7444. Both ports are checked first: one that is taken (another `npm start`, `npm run cluster`) ends
 * it with one line naming the port and the process holding it, before anything is made or started.
 * Once the member has said it serves clients, is still running and answers /readyz (its first-start
 * namespaces and policies exist) it prints "default: ready"; clients may start then. When the member
 * exits, one line says how (its exit code or the signal), and this exits with its status (1 for a
 * signal). Running it again reuses the CA, the key and the data. Ctrl-C stops it cleanly.
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
import { portHolder } from './port-holder.ts';
import { answersOk, readyPollMs } from './readiness.ts';

const certs = caLayout('certs');
const unsealKey = 'certs/dev-unseal.key';
const clientPort = 7443;
const peerPort = 7444;
const clientUrl = `https://127.0.0.1:${clientPort}`;

// Another member on these ports would answer /readyz in this one's place: refuse before anything starts.
for (const [port, what] of [[clientPort, 'client'], [peerPort, 'peer']] as const) {
  const holder = await portHolder(port);
  if (holder !== undefined) {
    process.stderr.write(`start: port ${port} (the ${what} port) is in use by ${holder}; stop it first (npm start and npm run cluster both use 7443)\n`);
    process.exit(1);
  }
}

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
], { stdio: ['inherit', 'pipe', 'inherit'] });

// Its output passes through; the line it prints once it listens is how this knows it serves.
let serving = false;
let seen = '';
member.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (serving) return;
  seen = (seen + chunk.toString()).slice(-4096);
  serving = /^coffer: member default \(.*\) serving clients on /m.test(seen);
});

// Ctrl-C reaches the member too (same process group); wait for its exit, say how it ended, pass its status on.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => member.kill('SIGTERM'));
member.on('close', (code, signal) => {
  process.stderr.write(signal !== null ? `start: member default was stopped by ${signal}\n`
    : code === 0 ? 'start: member default stopped\n' : `start: member default exited with code ${code}\n`);
  process.exit(code ?? 1);
});

const tls = { cert: await readFile(certs.clientCert('admin'), 'utf8'), key: await readFile(certs.clientKey('admin'), 'utf8'), ca: await readFile(certs.caCert, 'utf8') };
// Until this member says it serves, is still running and answers ready (only it can hold the port
// then); if it exits first, its exit ends this process.
const running = () => member.exitCode === null && member.signalCode === null;
while (!(serving && running() && await answersOk(`${clientUrl}/readyz`, tls) && running())) await delay(readyPollMs);
process.stdout.write(`default: ready on ${clientUrl}\n`);
