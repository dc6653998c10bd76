/**
 * `POST /apis/coffer.dev/v1/snapshot`: streams this member's store as a consistent point-in-time
 * snapshot (storage/backup's snapshot stream) to `coffer snapshot save`, which encrypts it on the
 * operator's machine. Administrators only for now: the caller must be in `system:masters`, whatever
 * RBAC rules say, since the stream carries every secret in the clear (inside mutual TLS).
 *
 * Consistency: a ReadIndex barrier first (the snapshot holds every write committed before the
 * request), then the store's export pins one LevelDB snapshot for the whole stream, so later writes
 * do not show up in it. A failure mid-stream cuts the response; the stream's end frame is then
 * missing, and the CLI refuses what it got.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { encodeSnapshotStream, snapshotStreamContentType } from '../../storage/backup/index.ts';
import { type ApiRouteConfig, backupOfEverySecret } from '../route-config.ts';
import type { KvBackend } from '../kv/backend.ts';

export const snapshotPath = '/apis/coffer.dev/v1/snapshot';

/** The snapshot route, on `app` scoped under snapshotPath (plugin.ts). */
export function registerSnapshotRoutes(app: FastifyInstance, backend: KvBackend): void {
  app.post('', { config: { mastersOnly: backupOfEverySecret, longAnswer: true } satisfies ApiRouteConfig }, async (request, reply) => {
    await backend.linearizableBarrier();
    const exported = backend.mvcc().exportSnapshot();
    // The export takes its point-in-time view on its first step (the header record): take it now,
    // right after the barrier, not whenever the socket first asks for bytes.
    const head = await exported.next();
    async function* records() {
      if (head.done !== true) yield head.value;
      yield* exported;
    }
    const frames = encodeSnapshotStream({ clusterId: backend.clusterId, memberId: backend.status().memberId }, records());
    request.log.info({ revision: backend.status().revision }, 'snapshot stream started');
    return reply
      .type(snapshotStreamContentType)
      .header('cache-control', 'no-store')
      .send(Readable.from(frames, { objectMode: false }));
  });
}
