// How a gRPC Watch stream answers creates, as etcd's does: watch IDs counted from 0 skip the IDs the
// client chose itself (create watch_id 5, then six without: 0-4, then 6 — a create was refused as "in
// use" instead), and a watch from a compacted revision is created, then canceled in a response of its
// own carrying the revision the store was compacted to (clientv3's WatchResponse.CompactRevision; etcdctl
// make-mirror resumes from it) — it was one created-and-canceled response with compact_revision 0.
// Over the member's real listener and TLS. (clientv3 itself: test/e2e/clientv3, scenario compacted-watch.)
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { decode, encode, FrameReader, frame, type Message, messageType } from '../../../src/etcdpb/index.ts';
import { grpcCall, grpcExchange, grpcSession } from '../../support/grpc-stream.ts';
import { startTlsMember, type TlsMember } from './tls-member.ts';

let member: TlsMember;
let session: ClientHttp2Session;

before(async () => {
  member = await startTlsMember();
  session = grpcSession(member.url, member.admin);
});

after(async () => {
  session.destroy();
  await member.close();
});

/** A Watch stream whose answers are all kept, read in order. */
function watchStream(): { stream: ClientHttp2Stream; send: (fields: Message) => void; answers: (count: number) => Promise<Message[]> } {
  const stream = grpcCall(session, 'Watch/Watch');
  const reader = new FrameReader();
  const received: Message[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const m of reader.push(chunk)) received.push(decode(messageType('WatchResponse'), m));
  });
  return {
    stream,
    send: (fields) => stream.write(frame(encode(messageType('WatchRequest'), fields))),
    answers: async (count) => {
      while (received.length < count) await once(stream, 'data');
      return received.slice(0, count);
    },
  };
}

async function put(key: string, value: string): Promise<number> {
  const answer = await grpcExchange(grpcCall(session, 'KV/Put'), 'PutRequest', { key: Buffer.from(key), value: Buffer.from(value) }, 'PutResponse', true);
  return Number((answer.header as Message).revision);
}

test('automatic watch IDs skip the IDs the client chose', { timeout: 30_000 }, async () => {
  const watch = watchStream();
  watch.send({ create_request: { key: Buffer.from('ids/a'), watch_id: 5 } });
  for (let i = 0; i < 6; i++) watch.send({ create_request: { key: Buffer.from(`ids/${i}`) } });
  const answers = await watch.answers(7);
  assert.deepEqual(answers.map((a) => [Number(a.watch_id), a.created, a.canceled]), [[5, true, false], [0, true, false], [1, true, false], [2, true, false], [3, true, false], [4, true, false], [6, true, false]]);
  watch.stream.close();
});

test('a watch from a compacted revision is created, then canceled with the revision compacted to', { timeout: 30_000 }, async () => {
  const first = await put('compacted/k', '1');
  const second = await put('compacted/k', '2');
  await grpcExchange(grpcCall(session, 'KV/Compact'), 'CompactionRequest', { revision: second }, 'CompactionResponse', true);
  const watch = watchStream();
  watch.send({ create_request: { key: Buffer.from('compacted/k'), start_revision: first, watch_id: 3 } });
  const [created, canceled] = await watch.answers(2);
  assert.deepEqual([Number(created!.watch_id), created!.created, created!.canceled], [3, true, false]);
  assert.deepEqual([Number(canceled!.watch_id), canceled!.created, canceled!.canceled, Number(canceled!.compact_revision)], [3, false, true, second]);
  // The stream goes on: another watch is created on it.
  watch.send({ create_request: { key: Buffer.from('compacted/k') } });
  const [, , next] = await watch.answers(3);
  assert.deepEqual([next!.created, next!.canceled], [true, false]);
  watch.stream.close();
});
