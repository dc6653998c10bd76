/**
 * The admin API, a fastify plugin: this member's keys (keys.ts, served when the member hands them in)
 * and the snapshot stream (snapshot.ts), each scoped under its own path with its own error and
 * not-found handlers. Its answers are Kubernetes `Status` objects, which the CLI reads, and its bodies
 * are read as the Kubernetes API reads them.
 */
import type { FastifyInstance } from 'fastify';
import { kubernetesBodies } from '../body-parsers.ts';
import { kubernetesStatus, speak } from '../dialect.ts';
import type { KvBackend } from '../kv/backend.ts';
import { type KeysAdmin, keysPath, registerKeysRoutes } from './keys.ts';
import { registerSnapshotRoutes, snapshotPath } from './snapshot.ts';

export interface AdminApiOptions {
  backend: KvBackend;
  /** The member's key rotation; without it (tests of other concerns) the keys routes are not served. */
  keys?: KeysAdmin;
}

/** One admin path's scope: `routes` registered in the admin dialect. */
function adminScope(routes: (scope: FastifyInstance) => void) {
  return (scope: FastifyInstance, _options: unknown, done: (error?: Error) => void): void => {
    speak(scope, { dialect: kubernetesStatus });
    kubernetesBodies(scope);
    routes(scope);
    done();
  };
}

export function adminApi(admin: FastifyInstance, options: AdminApiOptions, done: (error?: Error) => void): void {
  const { keys, backend } = options;
  if (keys !== undefined) void admin.register(adminScope((scope) => registerKeysRoutes(scope, keys)), { prefix: keysPath });
  void admin.register(adminScope((scope) => registerSnapshotRoutes(scope, backend)), { prefix: snapshotPath });
  done();
}
