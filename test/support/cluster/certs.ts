/**
 * Certificates for a test cluster: a fresh CA in the cluster's temp dir with member certificates
 * m1..mN (every member cert carries 127.0.0.1 and localhost, and serverAuth + clientAuth) and an admin
 * client certificate, laid out as `npm run bootstrap-ca` lays out certs/.
 */
import { bootstrapCa, caLayout } from '../../../src/pki/index.ts';

export interface ClusterCerts {
  dir: string;
  ca: string;
  crl: string;
  memberCert(name: string): string;
  memberKey(name: string): string;
  /** The admin client certificate (group system:masters). */
  clientCert: string;
  clientKey: string;
}

export async function makeCerts(dir: string, memberNames: readonly string[]): Promise<ClusterCerts> {
  await bootstrapCa({ dir, members: memberNames, hosts: ['127.0.0.1', 'localhost'], admin: 'admin' });
  return certsIn(dir);
}

/** The layout of an existing CA directory (as bootstrap-ca made it). */
export function certsIn(dir: string): ClusterCerts {
  const layout = caLayout(dir);
  return {
    dir,
    ca: layout.caCert,
    crl: layout.crl,
    memberCert: (name) => layout.memberCert(name),
    memberKey: (name) => layout.memberKey(name),
    clientCert: layout.clientCert('admin'),
    clientKey: layout.clientKey('admin'),
  };
}
