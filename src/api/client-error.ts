/**
 * Requests node refuses before fastify routes them (its `clientError`): a request line or header it
 * cannot parse, headers larger than its limit, a request not received within the client listener's
 * header or request timeout. Each still leaves exactly one audit event (docs/security.md, "The audit
 * log"): stage ResponseComplete, decision forbid (so Metadata at least, whatever a rule says), the user
 * of the connection's verified certificate or system:anonymous, the raw request target capped at
 * auditRefusedTargetCharsMax and no parsed path. The answer — a Kubernetes `Status`, 400, 408 or 431 —
 * is written only once that record is durable; if the log refuses it, 503. Then the connection is
 * closed, as node closes it. An HTTP/2 connection whose request's headers never arrived in time (the
 * client port ends it: src/server/client-listener.ts) is reported here the same way and recorded as a
 * 408 with no method or target; it gets no answer, only closed once its record is written.
 *
 * A request already handed to fastify (a response is in flight on the connection: node reports a
 * request timeout while its body is still arriving) is recorded under the auditID its route gave it,
 * unless the route already recorded its end (recordAbandoned), then answered (if none of its response
 * was sent yet) and closed. When the request in flight has arrived whole, what node refused is a request
 * pipelined behind it: that one gets its own record, the one in flight is left to its route (which
 * records it, whatever it changes), and the connection is closed without an answer that would read as
 * the in-flight request's.
 *
 * Requests node parses but would answer itself, never routing them (unroutedRequests): an `Expect` other
 * than 100-continue (node: 417) and a CONNECT (HTTP/1.1: the connection dropped; HTTP/2: 405). Coffer
 * serves neither; each is recorded the same way (its method and target, the user of its certificate or
 * headers) and answered 417 or 405 once the record is durable. So is a request pipelined past
 * apiPipelinedRequestsMax in flight on one HTTP/1.1 connection (the client port reports it as
 * `pipelinedOverflowEvent`): 429, not served. An HTTP/2 request whose body does not arrive within the
 * request timeout (`streamRequestTimeoutEvent`) is recorded as HTTP/1.1's is — under its route's auditID —
 * answered 408 and its stream reset. (An HTTP/1.1 Upgrade needs nothing here:
 * with no 'upgrade' listener node routes it as a plain request.)
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, STATUS_CODES, type ServerResponse } from 'node:http';
import { constants as http2, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AuditEventInput } from '../audit/index.ts';
import { apiPipelinedRequestsMax, auditRefusedTargetCharsMax, grpcResetStreamsMax, grpcResetStreamsWindowMs } from '../config/index.ts';
import { type ApiAudit, anonymousUser, auditIdHeader, recordAbandoned, unavailableStatus } from './audit-plugin.ts';
import type { Identify } from './identity.ts';
import type { ClientIdentity } from '../pki/index.ts';
import { status, type StatusObject } from './k8s/status.ts';

/** node's error for a refused request: its parser's code, and the bytes it could not parse. */
export type ClientError = Error & { code?: string; rawPacket?: Buffer };

interface Refusal {
  code: number;
  reason: string;
  message: string;
  /** The decision reason recorded: node's fixed error code, never the client's bytes. */
  why: string;
  /** The connection stays open after the answer (the requests after it on the connection are still answered). */
  keepsConnection?: true;
}

/** The most of node's reason for a broken HTTP/2 session an audit record keeps, in characters. */
const http2ReasonCharsMax = 120;

const requestTimeout: Refusal = { code: 408, reason: 'Timeout', message: 'the request was not received in time', why: 'request timeout: the request was not received in time' };

function refusalOf(error: ClientError): Refusal {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return requestTimeout;
  if (error.code === 'ERR_HTTP2_STREAM_RESETS') {
    const limit = `more than ${grpcResetStreamsMax} streams reset by the client within ${grpcResetStreamsWindowMs / 1000} s`;
    return { code: 429, reason: 'TooManyRequests', message: limit, why: `stream resets: ${limit}; the connection is closed` };
  }
  if (error.code?.startsWith('ERR_HTTP2_') === true) {
    // node's and nghttp2's fixed text for what broke the protocol, never the client's bytes.
    const reason = error.message.replace(/[^\w ,.'-]/g, '').slice(0, http2ReasonCharsMax);
    return { code: 400, reason: 'BadRequest', message: 'the connection broke the HTTP/2 protocol', why: `protocol error: ${error.code}: ${reason}` };
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return { code: 431, reason: 'RequestHeaderFieldsTooLarge', message: 'the request headers are too large', why: 'malformed request: HPE_HEADER_OVERFLOW' };
  }
  const code = typeof error.code === 'string' && /^[A-Z_]{1,64}$/.test(error.code) ? error.code : 'unparsable';
  return { code: 400, reason: 'BadRequest', message: 'the request could not be parsed as HTTP/1.1', why: `malformed request: ${code}` };
}

/** The method and target of the request line node read, as far as it goes. */
function requestLineOf(raw: Buffer | undefined): { verb: string; target: string } {
  const line = raw?.subarray(0, raw.indexOf('\n') === -1 ? raw.length : raw.indexOf('\n')).toString('latin1') ?? '';
  const [method = '', target = ''] = line.split(' ');
  return { verb: /^[A-Za-z]{1,16}$/.test(method) ? method.toLowerCase() : '', target: target.slice(0, auditRefusedTargetCharsMax) };
}

/** The response node is writing for a request it handed to the app, if one is in flight on the connection (node's own test). */
function responseInFlight(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

/**
 * Writes `body` as the connection's last answer (naming its audit event, if it has one), then closes it.
 * An HTTP/2 connection (the client port reports one whose request never arrived) gets no HTTP/1.1 bytes:
 * it is only closed.
 */
function answerAndClose(socket: Socket, body: StatusObject, auditID?: string): void {
  if ((socket as TLSSocket).alpnProtocol !== 'h2' && socket.writable) {
    const text = JSON.stringify(body);
    socket.write(`HTTP/1.1 ${body.code} ${STATUS_CODES[body.code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n`
      + (auditID === undefined ? '' : `${auditIdHeader}: ${auditID}\r\n`) + `Connection: close\r\n\r\n${text}`);
  }
  socket.destroy();
}

/** fastify's `clientErrorHandler` for the client port. */
export function clientErrorHandler(options: { audit: ApiAudit | undefined; identify: Identify }): (error: ClientError, socket: Socket) => void {
  // node reports the same connection again if bytes or its timeout check arrive while the record is
  // being written; the first report is the one recorded and answered.
  const refused = new WeakSet<Socket>();
  return (error, socket) => {
    // A connection node closed for breaking HTTP/2 is gone by the time it is reported; it is recorded all the same.
    if (error.code === 'ECONNRESET' || (socket.destroyed && error.code?.startsWith('ERR_HTTP2_') !== true) || refused.has(socket)) return;
    refused.add(socket);
    const refusal = refusalOf(error);
    const answer = status(refusal.code, refusal.reason, refusal.message);
    const inFlight = responseInFlight(socket);
    const { audit } = options;
    const recordOwn = (log: ApiAudit, line: { verb: string; target: string }): Promise<string> => {
      const auditID = randomUUID();
      const identity = options.identify({ raw: { socket }, headers: {} });
      return log.record(refusalRecord(auditID, identity, socket, line, refusal)).then(() => auditID);
    };
    if (inFlight?.req.complete === true) {
      // What node refused came after the request in flight, pipelined behind it (bytes it cannot parse,
      // headers over its limit or late): a request of its own, recorded as one. The request in flight is
      // its route's, recorded by it whatever it does (it may have changed the store already); an answer
      // written now would be read as that request's, so the connection is only closed, as node closes it.
      if (audit === undefined) socket.destroy();
      else recordOwn(audit, requestLineOf(error.rawPacket)).finally(() => socket.destroy()).catch(() => undefined);
      return;
    }
    if (inFlight?.headersSent === true) {
      // Its route answered and recorded it; the rest of the answer cannot go out.
      socket.destroy();
      return;
    }
    if (audit === undefined) {
      answerAndClose(socket, answer);
      return;
    }
    // The request refused is the one in flight (its body late or malformed), if any: recorded under the
    // auditID its route gave it; one that never reached the gate, or none, gets a record of its own.
    const recorded = inFlight === undefined
      ? recordOwn(audit, requestLineOf(error.rawPacket))
      : recordAbandoned(audit, inFlight.req, refusal.code).then((auditID) => auditID ?? recordOwn(audit, lineOf(inFlight.req)));
    recorded.then(
      (auditID) => answerAndClose(socket, answer, auditID),
      () => answerAndClose(socket, unavailableStatus()),
    );
  };
}

/** The method and target of a request node parsed, as an audit record keeps them. */
function lineOf(request: IncomingMessage | Http2ServerRequest): { verb: string; target: string } {
  return { verb: (request.method ?? '').toLowerCase().slice(0, 16), target: (request.url ?? '').slice(0, auditRefusedTargetCharsMax) };
}

/** The audit record of a request refused before any route saw it: forbid, with node's or Coffer's reason. */
function refusalRecord(
  auditID: string, identity: ClientIdentity | undefined, socket: Socket, { verb, target }: { verb: string; target: string }, refusal: Refusal,
): AuditEventInput {
  const now = new Date();
  return {
    auditID, stage: 'ResponseComplete', requestURI: target, path: '', verb,
    user: identity === undefined ? anonymousUser : { username: identity.user, groups: [...identity.groups] },
    sourceIPs: [socket.remoteAddress ?? ''], decision: 'forbid', decisionReason: refusal.why,
    responseStatus: { code: refusal.code }, requestReceivedTimestamp: now, stageTimestamp: now,
  };
}

/** The client port's event for a request read past apiPipelinedRequestsMax in flight on its connection (src/server/client-listener.ts). */
export const pipelinedOverflowEvent = 'pipelinedOverflow';

/**
 * The client port's event for an HTTP/2 request not received whole within the request timeout
 * (src/server/client-listener.ts), with its request and response.
 */
export const streamRequestTimeoutEvent = 'streamRequestTimeout';

/** What node hands over for a request it does not route: the response to write, or (HTTP/1.1 CONNECT) the bare connection. */
type UnroutedAnswer = ServerResponse | Http2ServerResponse | Socket;

/**
 * Listeners for the client port's `checkExpectation` and `connect` events (both protocols:
 * the port's HTTP/2 server hands its own over, client-listener.ts). With a listener, node no longer
 * answers these itself; each is recorded and refused here.
 */
export function unroutedRequests(options: { audit: ApiAudit | undefined; identify: Identify }): {
  expectation: (request: IncomingMessage | Http2ServerRequest, response: UnroutedAnswer) => void;
  connect: (request: IncomingMessage | Http2ServerRequest, response: UnroutedAnswer) => void;
  pipelinedOverflow: (request: IncomingMessage, response: ServerResponse, closing: boolean) => void;
  streamRequestTimeout: (request: Http2ServerRequest, response: Http2ServerResponse) => void;
} {
  const refuse = (refusal: Refusal) => (request: IncomingMessage | Http2ServerRequest, response: UnroutedAnswer) => {
    const socket = ((request as Http2ServerRequest).stream?.session?.socket ?? request.socket);
    const answer = status(refusal.code, refusal.reason, refusal.message);
    const { audit } = options;
    if (audit === undefined) {
      answerUnrouted(response, answer, undefined, refusal.keepsConnection);
      return;
    }
    const auditID = randomUUID();
    const identity = options.identify({ raw: request, headers: request.headers });
    audit.record(refusalRecord(auditID, identity, socket, lineOf(request), refusal)).then(
      () => answerUnrouted(response, answer, auditID, refusal.keepsConnection),
      () => answerUnrouted(response, unavailableStatus(), auditID, refusal.keepsConnection),
    );
  };
  return {
    expectation: refuse({ code: 417, reason: 'ExpectationFailed', message: 'only the expectation 100-continue is supported', why: 'unsupported expectation: only 100-continue is supported' }),
    connect: refuse({ code: 405, reason: 'MethodNotAllowed', message: 'CONNECT is not served', why: 'CONNECT is not served' }),
    pipelinedOverflow: (request, response, closing) => refuse({
      code: 429, reason: 'TooManyRequests', message: `more than ${apiPipelinedRequestsMax} requests in flight on one connection; wait for the answers`,
      why: `pipelined requests: more than ${apiPipelinedRequestsMax} in flight on one connection`
        + (closing ? `; ${2 * apiPipelinedRequestsMax} in flight: the connection is closed, and what it sent after this request is neither served nor answered` : ''),
      keepsConnection: true,
    })(request, response),
    streamRequestTimeout: (request, response) => {
      const stream = request.stream;
      if (response.headersSent) {
        // Its route answered and recorded it; the rest of the answer cannot go out.
        stream.close(http2.NGHTTP2_CANCEL);
        return;
      }
      const { audit } = options;
      // Under the auditID its route gave it, as clientErrorHandler records an HTTP/1.1 request whose body
      // is late; one that never reached the gate gets a record of its own.
      if (audit === undefined) {
        refuse(requestTimeout)(request, response);
        return;
      }
      recordAbandoned(audit, request as never, requestTimeout.code).then(
        (auditID) => {
          if (auditID === undefined) refuse(requestTimeout)(request, response);
          else answerUnrouted(response, status(requestTimeout.code, requestTimeout.reason, requestTimeout.message), auditID);
        },
        () => answerUnrouted(response, unavailableStatus()),
      );
    },
  };
}

function answerUnrouted(response: UnroutedAnswer, body: StatusObject, auditID?: string, keepsConnection = false): void {
  if (!('writeHead' in response)) {
    answerAndClose(response, body, auditID);
    return;
  }
  const text = JSON.stringify(body);
  if ('shouldKeepAlive' in response && !keepsConnection) response.shouldKeepAlive = false;
  response.writeHead(body.code, { 'content-type': 'application/json', ...(auditID === undefined ? {} : { [auditIdHeader]: auditID }) });
  response.end(text);
  // HTTP/2: a request still arriving is told to stop once its answer is out (RST_STREAM NO_ERROR after
  // the answer's last frame, RFC 9113, 8.1).
  if ('stream' in response && !response.stream.destroyed && response.stream.state.remoteClose !== 1) response.stream.close(http2.NGHTTP2_NO_ERROR);
}
