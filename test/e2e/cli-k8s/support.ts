// Shared set-up of the CLI end-to-end tests: wait until a new cluster's first-start objects exist.
import { isK8sApiError, K8sClient } from '../../../src/client/index.ts';
import { type Cluster, delay } from '../../support/cluster/index.ts';

/** The first-start bootstrap (namespaces, default policies) runs once there is a leader: wait for it. */
export async function waitBootstrapped(cluster: Cluster): Promise<void> {
  const client = new K8sClient({ endpoints: [cluster.clientUrl(0)], tls: cluster.clientTls() });
  try {
    for (;;) {
      try {
        await client.get('clusterrolebindings', 'cluster-admin');
        await client.get('namespaces', 'default');
        return;
      } catch (error) {
        if (!isK8sApiError(error) || error.reason !== 'NotFound') throw error;
        await delay(20);
      }
    }
  } finally {
    client.close();
  }
}
