/**
 * Where the CA directory keeps its files (certs/README.md):
 *   ca.crt  ca.key  crl.pem  issued.json
 *   ca.lock  ca.lock.takeover (only while a command writes the registry: ca-lock.ts)
 *   members/<name>.crt  members/<name>.key  members/<name>.unseal.key (written by bootstrap-ca and
 *   `coffer ca issue --member`, not by this folder: a member's unseal key, kept with its other files)
 *   clients/<user>.crt  clients/<user>.key  clients/<user>.p12  [clients/<user>.p12.pass]
 * Names are validated (names.ts) before they reach a path, so none escapes the directory.
 */
import { join } from 'node:path';

export interface CaLayout {
  dir: string;
  caCert: string;
  caKey: string;
  crl: string;
  registry: string;
  lock: string;
  lockTakeover: string;
  memberCert(name: string): string;
  memberKey(name: string): string;
  memberUnsealKey(name: string): string;
  clientCert(user: string): string;
  clientKey(user: string): string;
  clientP12(user: string): string;
  clientP12Password(user: string): string;
}

export function caLayout(dir: string): CaLayout {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    crl: join(dir, 'crl.pem'),
    registry: join(dir, 'issued.json'),
    lock: join(dir, 'ca.lock'),
    lockTakeover: join(dir, 'ca.lock.takeover'),
    memberCert: (name) => join(dir, 'members', `${name}.crt`),
    memberKey: (name) => join(dir, 'members', `${name}.key`),
    memberUnsealKey: (name) => join(dir, 'members', `${name}.unseal.key`),
    clientCert: (user) => join(dir, 'clients', `${user}.crt`),
    clientKey: (user) => join(dir, 'clients', `${user}.key`),
    clientP12: (user) => join(dir, 'clients', `${user}.p12`),
    clientP12Password: (user) => join(dir, 'clients', `${user}.p12.pass`),
  };
}
