/**
 * transport — how members talk to each other: length-prefixed frames over long-lived mutual-TLS
 * connections, each frame one msgpack-encoded PeerFrame.
 * Invariants: a frame longer than frameBytesMax is refused before it is buffered; a decoded frame has
 * been checked field by field, so Raft never sees a malformed message; local-only Raft message kinds
 * never cross the wire.
 */
export { encodeFrame, FrameDecoder, FrameTooLargeError } from './frame.ts';
export { decodePeerFrame, encodePeerFrame, MalformedFrameError } from './codec.ts';
export type { HelloFrame, PeerFrame, RaftFrame } from './codec.ts';
export { PeerLink, type PeerAddress, type PeerLinkOptions } from './peer-link.ts';
export { PeerListener, type PeerListenerOptions } from './peer-listener.ts';
