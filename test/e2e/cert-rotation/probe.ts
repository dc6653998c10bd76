/**
 * Which certificate a listener presents right now: one fresh TLS handshake (no session reuse, so the
 * server must send its certificate) with a client certificate of the cluster's CA, the serial read,
 * the connection closed. Works on both of a member's listeners: the client listener and the peer
 * listener (which requires a client certificate too; the probe closes before any hello, so the member
 * at most logs a refused peer connection).
 */
import { connect, type ConnectionOptions } from 'node:tls';
import { normalizeSerial } from '../../../src/pki/index.ts';
import { delay } from '../../support/cluster/index.ts';

const probeTimeoutMs = 3_000;
const pollIntervalMs = 50;

/** The canonical serial of the certificate the listener on 127.0.0.1:`port` presents. */
export function presentedSerial(port: number, tls: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    // The member certificates name 127.0.0.1 (and localhost); node checks the IP SAN.
    const socket = connect({ ...tls, host: '127.0.0.1', port, rejectUnauthorized: true });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake with port ${port} within ${probeTimeoutMs} ms`)), probeTimeoutMs);
    socket.once('secureConnect', () => {
      const serial = socket.getPeerCertificate().serialNumber;
      clearTimeout(timer);
      socket.destroy();
      resolve(normalizeSerial(serial));
    });
    socket.once('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * Polls the listener until it presents `serial`, failing after `timeoutMs` with the serial last seen.
 * Handshake errors count as "not yet" (the listener may be between two reloads) until the deadline.
 */
export async function waitPresents(port: number, tls: ConnectionOptions, serial: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      last = await presentedSerial(port, tls);
      if (last === serial) return;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`port ${port} still presents ${last}, not ${serial}, after ${timeoutMs} ms`);
    await delay(pollIntervalMs);
  }
}
