/**
 * The first certificates of a deployment, as `scripts/bootstrap-ca.ts` makes them: a CA, an empty
 * CRL, one member certificate per member (every member gets every host as a SAN, which suits a
 * cluster on one machine or behind one name), and an admin client certificate in group
 * `system:masters` (bound to cluster-admin by the default policies) with its PKCS#12. The CA is valid
 * for caValidityDaysDefault days, or for `days` if that is longer, so no leaf outlives it.
 *
 * Invariant: every input is validated and the "CA already exists" check is made before the first
 * write, so a refused run leaves the directory byte-identical.
 */
import { caValidityDaysDefault, certValidityDaysDefault } from '../config/index.ts';
import { initCa } from './ca.ts';
import { checkMemberName, checkUserName, splitHosts } from './names.ts';
import { issueClient, issueMember } from './issue.ts';
import { validityFor } from './templates.ts';

export const bootstrapDefaults = {
  dir: 'certs',
  members: ['default'],
  hosts: ['127.0.0.1', 'localhost'],
  admin: 'admin',
  adminGroups: ['system:masters'],
  days: certValidityDaysDefault,
} as const;

export interface BootstrapOptions {
  dir?: string;
  members?: readonly string[];
  hosts?: readonly string[];
  admin?: string;
  days?: number;
  force?: boolean;
  passphrase?: string;
  p12Password?: string;
  nowMs?: number;
}

export interface BootstrapResult {
  caSerial: string;
  files: string[];
}

export async function bootstrapCa(options: BootstrapOptions): Promise<BootstrapResult> {
  const dir = options.dir ?? bootstrapDefaults.dir;
  const members = [...new Set(options.members ?? bootstrapDefaults.members)];
  const hosts = options.hosts ?? bootstrapDefaults.hosts;
  const admin = options.admin ?? bootstrapDefaults.admin;
  const days = options.days ?? bootstrapDefaults.days;
  const nowMs = options.nowMs ?? Date.now();

  members.forEach(checkMemberName);
  splitHosts(hosts);
  checkUserName(admin);
  validityFor(nowMs, days);

  // The CA outlives every leaf it signs: caValidityDaysDefault, or longer if --days asks for more.
  // initCa refuses an existing CA (unless forced) under the CA lock, before its first write.
  const caDays = Math.max(caValidityDaysDefault, days);
  const { signer, files } = await initCa({ dir, days: caDays, force: options.force, passphrase: options.passphrase, nowMs });
  for (const name of members) {
    files.push(...(await issueMember(signer, { name, hosts, days, force: true, nowMs })).files);
  }
  const adminResult = await issueClient(signer, {
    user: admin, groups: bootstrapDefaults.adminGroups, days, force: true, nowMs, p12Password: options.p12Password,
  });
  files.push(...adminResult.files);
  return { caSerial: signer.cert.serialNumber, files };
}
