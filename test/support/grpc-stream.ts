/**
 * etcd's gRPC API spoken by hand over a real HTTP/2 connection to a member's client port, for tests that
 * hold a stream open (a Watch, a LeaseKeepAlive) and need to see what happens to it: messages framed and
 * coded by src/etcdpb, one answer read at a time.
 */
import { once } from 'node:events';
import { type ClientHttp2Session, type ClientHttp2Stream, connect } from 'node:http2';
import { decode, encode, FrameReader, frame, type Message, messageType } from '../../src/etcdpb/index.ts';

/** An HTTP/2 connection to `url` with the client certificate in `tls` (what a gRPC client opens). */
export function grpcSession(url: string, tls: { cert: string; key: string; ca: string }): ClientHttp2Session {
  const session = connect(url, { ...tls, ALPNProtocols: ['h2'] });
  session.on('error', () => undefined); // a test that closes or loses the connection asserts on that itself
  return session;
}

/** Opens a call of `method` (`Service/Method`, e.g. `Watch/Watch`) on `session`. */
export function grpcCall(session: ClientHttp2Session, method: string): ClientHttp2Stream {
  const stream = session.request({ ':method': 'POST', ':path': `/etcdserverpb.${method}`, 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  return stream;
}

/** Sends one `request` message on `stream` (its last if `last`) and reads the next answer as `response`. */
export async function grpcExchange(stream: ClientHttp2Stream, request: string, fields: Message, response: string, last = false): Promise<Message> {
  const reader = new FrameReader();
  const bytes = frame(encode(messageType(request), fields));
  if (last) stream.end(bytes);
  else stream.write(bytes);
  for (;;) {
    const [chunk] = await once(stream, 'data') as [Buffer];
    const [message] = reader.push(chunk);
    if (message !== undefined) return decode(messageType(response), message);
  }
}
