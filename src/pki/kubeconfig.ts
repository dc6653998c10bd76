/**
 * A kubeconfig for kubectl (and any client-go tool) that talks to Coffer's client API over mutual
 * TLS: one cluster (the endpoint and the Coffer CA), one user (a client certificate and key), one
 * context joining them. Pure: PEM text in, YAML text out — the caller decides where it goes (the key
 * is embedded, so the file must be written with mode 0600).
 */
import { stringify } from 'yaml';

export interface KubeconfigInput {
  /** The client API URL, e.g. https://127.0.0.1:7443 (the first endpoint is used). */
  endpoints: readonly string[];
  caPem: string;
  certPem: string;
  keyPem: string;
  /** Names in the file; default "coffer" for cluster and context, the user "coffer-user". */
  clusterName?: string;
  userName?: string;
}

export function buildKubeconfig(input: KubeconfigInput): string {
  const server = input.endpoints[0];
  if (server === undefined || !server.startsWith('https://')) throw new Error(`kubeconfig needs an https:// endpoint, got ${JSON.stringify(server ?? '')}`);
  const cluster = input.clusterName ?? 'coffer';
  const user = input.userName ?? 'coffer-user';
  const b64 = (pem: string) => Buffer.from(pem, 'utf8').toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server, 'certificate-authority-data': b64(input.caPem) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(input.certPem), 'client-key-data': b64(input.keyPem) } }],
    contexts: [{ name: cluster, context: { cluster, user, namespace: 'default' } }],
    'current-context': cluster,
    preferences: {},
  });
}
