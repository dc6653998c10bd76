/**
 * One workload client's register operations over one of the two encodings of the etcd API: the JSON
 * gateway through Coffer's own KvClient, or gRPC through the `etcd3` npm client (grpc-js) — a real
 * etcd client, so the Jepsen-style history covers both APIs of the one store at once.
 *
 * A failure is classified for the history (workload.ts): `indeterminate` when the operation may have
 * taken effect. The gRPC client's retries are turned off: a retried write could take effect twice, which
 * no register allows, and the history must record what the client did, not what a policy redid.
 */
import { readFileSync } from 'node:fs';
import { noop } from 'cockatiel';
import { ClientRuntimeError, EtcdError, Etcd3, GRPCGenericError } from 'etcd3';
import { isClientError, type KvClient, text } from '../../../src/client/index.ts';
import type { Cluster } from './cluster.ts';

export type RegisterProtocol = 'json' | 'grpc';

export interface RegisterClient {
  read(key: string): Promise<string | null>;
  write(key: string, value: string): Promise<void>;
  /** Puts `value` if the key holds `expected` (null: does not exist); true if it did. */
  cas(key: string, expected: string | null, value: string): Promise<boolean>;
  /** What a failure of this client means for the history; throws what is not a client failure. */
  failure(error: unknown, write: boolean): { code: string; indeterminate: boolean };
  close(): void;
}

export function registerClient(cluster: Cluster, protocol: RegisterProtocol, members: readonly number[], opTimeoutMs: number): RegisterClient {
  return protocol === 'json' ? new JsonRegisterClient(cluster.client(members, { requestTimeoutMs: opTimeoutMs, connectTimeoutMs: 500 }))
    : new GrpcRegisterClient(cluster, members, opTimeoutMs);
}

class JsonRegisterClient implements RegisterClient {
  constructor(private readonly kv: KvClient) {}

  async read(key: string): Promise<string | null> {
    const got = await this.kv.get(key);
    return got === undefined ? null : text(got.value);
  }

  async write(key: string, value: string): Promise<void> {
    await this.kv.put(key, value);
  }

  async cas(key: string, expected: string | null, value: string): Promise<boolean> {
    const result = await this.kv.txn({
      compare: [expected === null ? { key, target: 'VERSION', result: 'EQUAL', version: 0 } : { key, target: 'VALUE', result: 'EQUAL', value: expected }],
      success: [{ put: { key, value } }],
    });
    return result.succeeded;
  }

  failure(error: unknown): { code: string; indeterminate: boolean } {
    if (!isClientError(error)) throw error;
    return { code: error.code, indeterminate: error.indeterminate };
  }

  close(): void {
    // Its connections close with the cluster's clients.
  }
}

/** An `etcd3` client of `members` as the cluster's client, with every retry off and a deadline per call. */
export function etcd3Client(cluster: Cluster, members: readonly number[], opTimeoutMs: number): Etcd3 {
  const { ca, clientCert, clientKey } = cluster.certs;
  return new Etcd3({
    hosts: members.map((i) => cluster.clientUrl(i)),
    credentials: { rootCertificate: readFileSync(ca), certChain: readFileSync(clientCert), privateKey: readFileSync(clientKey) },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + opTimeoutMs }),
    dialTimeout: opTimeoutMs,
    faultHandling: { global: noop, host: () => noop },
  });
}

/** The `etcd3` client does not say whether a failed call was sent: any failed write may have taken effect. */
export function etcd3Failure(error: unknown, write: boolean): { code: string; indeterminate: boolean } {
  if (!(error instanceof GRPCGenericError || error instanceof EtcdError || error instanceof ClientRuntimeError)) throw error;
  return { code: `grpc:${error.constructor.name}`, indeterminate: write };
}

class GrpcRegisterClient implements RegisterClient {
  private readonly etcd: Etcd3;

  constructor(cluster: Cluster, members: readonly number[], opTimeoutMs: number) {
    this.etcd = etcd3Client(cluster, members, opTimeoutMs);
  }

  read(key: string): Promise<string | null> {
    return this.etcd.get(key).string();
  }

  async write(key: string, value: string): Promise<void> {
    await this.etcd.put(key).value(value);
  }

  async cas(key: string, expected: string | null, value: string): Promise<boolean> {
    const guarded = expected === null ? this.etcd.if(key, 'Version', '==', 0) : this.etcd.if(key, 'Value', '==', expected);
    return (await guarded.then(this.etcd.put(key).value(value)).commit()).succeeded;
  }

  failure(error: unknown, write: boolean): { code: string; indeterminate: boolean } {
    return etcd3Failure(error, write);
  }

  close(): void {
    this.etcd.close();
  }
}
