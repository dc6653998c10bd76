/**
 * What may go into a certificate's names, checked before anything is signed or written. User and
 * member names also become file names under the CA directory, so they exclude path separators and
 * dot-only names by construction.
 *
 * Reserved names keep member and client certificates distinguishable: a client certificate can never
 * carry the members' organisation or look like the identity a member gets on the client port.
 */
import { isIP } from 'node:net';
import { certGroupsMax, certHostsMax, certNameLengthMax } from '../config/index.ts';
import { PkiError } from './errors.ts';

/** O of every member certificate. */
export const membersOrganization = 'coffer:members';
/** Prefix of a member's URI SAN: `coffer://member/<name>`. */
export const memberUriPrefix = 'coffer://member/';
/** The user a member certificate maps to on the client port: `system:member:<name>`. */
export const memberUserPrefix = 'system:member:';
/** The group a member certificate maps to on the client port. */
export const membersGroup = 'system:members';

const memberNamePattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const userNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;
const groupNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@:-]*$/;
const dnsNamePattern = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Member names are DNS-1123 labels (`m1`, `default`): they appear in URIs, file names and flags. */
export function checkMemberName(name: string): string {
  if (!memberNamePattern.test(name)) {
    throw new PkiError('INVALID_NAME', `member name ${JSON.stringify(name)} is not a DNS label (lowercase letters, digits, '-', at most 63)`);
  }
  return name;
}

export function checkUserName(user: string): string {
  if (user.length > certNameLengthMax || !userNamePattern.test(user)) {
    throw new PkiError('INVALID_NAME', `user name ${JSON.stringify(user)} must be 1-${certNameLengthMax} of letters, digits, '.', '_', '@', '-' and start with a letter or digit`);
  }
  // No ':' is allowed, so no user can be `system:…` — the prefix Kubernetes reserves and Coffer uses
  // for member identities on the client port.
  return user;
}

export function checkGroups(groups: readonly string[]): string[] {
  if (groups.length > certGroupsMax) {
    throw new PkiError('LIMIT_EXCEEDED', `${groups.length} groups exceed certGroupsMax (${certGroupsMax})`);
  }
  const seen = new Set<string>();
  for (const group of groups) {
    if (group.length > certNameLengthMax || !groupNamePattern.test(group)) {
      throw new PkiError('INVALID_NAME', `group ${JSON.stringify(group)} must be 1-${certNameLengthMax} of letters, digits, '.', '_', '@', ':', '-'`);
    }
    if (group === membersOrganization || group === membersGroup) {
      throw new PkiError('RESERVED_NAME', `group ${JSON.stringify(group)} is reserved for member certificates`);
    }
    seen.add(group);
  }
  return [...seen];
}

export interface SplitHosts {
  dns: string[];
  ips: string[];
}

/** Splits `--host` values into DNS and IP SANs; each must be a valid DNS name or IP literal. */
export function splitHosts(hosts: readonly string[]): SplitHosts {
  if (hosts.length === 0) throw new PkiError('INVALID_HOST', 'a member certificate needs at least one --host');
  if (hosts.length > certHostsMax) {
    throw new PkiError('LIMIT_EXCEEDED', `${hosts.length} hosts exceed certHostsMax (${certHostsMax})`);
  }
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const host of hosts) {
    if (isIP(host) !== 0) ips.add(host);
    else if (dnsNamePattern.test(host)) dns.add(host.toLowerCase());
    else throw new PkiError('INVALID_HOST', `host ${JSON.stringify(host)} is neither a DNS name nor an IP address`);
  }
  return { dns: [...dns], ips: [...ips] };
}
