/**
 * etcd 3.4's v3 wire contract, shared by the member's gRPC API (src/api/grpc) and the gRPC client
 * (src/client): the message definitions, their protobuf coding and gRPC's message framing. Owns no
 * behaviour: what a call means is the API's; how a call travels is here.
 */
export { etcdProto } from './etcd-proto.ts';
export { WireError } from './errors.ts';
export { FrameReader, frame, MessageTooLargeError, singleMessage } from './framing.ts';
export { boolField, bytesField, decode, encode, idField, int64, type Message, messageType, stringField, unheldId } from './messages.ts';
