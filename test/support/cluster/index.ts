/**
 * test/support/cluster — real member processes on loopback for integration tests, the bench, the
 * soak and `npm run cluster`: certificates, ports, process control (kill, restart, pause, resume),
 * a fault-injecting peer network (cut one direction or both, drop or blackhole, heal), and clients.
 * Two backends behind one interface: coffer (`coffer server`) and etcd 3.4.
 *
 * Invariant: nothing here sleeps to synchronise; readiness is polled from the members' status.
 */
export { type Backend, type BackendName, backendNamed, cofferBackend, cofferBuildBackend, cofferBuildEntry, defaultBackendName, etcdBackend, etcdBinary, cofferEntry, repoRoot } from './backends.ts';
export { type ClusterCerts, certsIn, makeCerts } from './certs.ts';
export { Cluster, type ClusterOptions, delay, retryUnhealthy, withCluster } from './cluster.ts';
export { type FaultMode, type LinkState, Network, type NetworkOptions } from './network.ts';
export { freePorts } from './ports.ts';
export { MemberProcess, type Spawn } from './process.ts';
export { RegisterWorkload, type WorkloadOptions, type WorkloadStats } from './workload.ts';
export { LockWorkload, type LockStats, type LockWorkloadOptions, lockLeaseTtlSeconds } from './lock-workload.ts';
export { allFaults, crashPointFaults, dataDirState, type FaultKind, Nemesis, type NemesisOptions } from './nemesis.ts';
export { type Convergence, waitConverged } from './converge.ts';
export { type CliResult, runCoffer, waitBootstrapped } from './cli.ts';
export { describeFailure, type JepsenOptions, type JepsenResult, runJepsen } from './jepsen.ts';
