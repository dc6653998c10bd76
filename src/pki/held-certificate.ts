/**
 * The certificate an open connection was verified with, reduced to what can stop being true after the
 * handshake: its serial (a later CRL may revoke it) and its validity period (it may expire while the
 * connection stays open). OpenSSL checks both once, at the handshake; TlsReloader checks them again
 * against the current CRL and clock for as long as the connection lives (docs/security.md,
 * "Revocation").
 */
import type { PeerCertificate } from 'node:tls';
import { normalizeSerial } from './serial.ts';

export interface HeldCertificate {
  /** Canonical serial (lowercase hex, as the CRL set holds it). */
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
}

/**
 * From node's parsed peer certificate (getPeerCertificate(): no DER parse of our own, so this is cheap
 * per connection). Undefined when the socket holds no certificate or its fields cannot be read; the
 * caller treats that as not valid (fail closed).
 */
export function heldCertificate(peer: PeerCertificate | undefined): HeldCertificate | undefined {
  if (peer === undefined || typeof peer.serialNumber !== 'string' || peer.serialNumber === '') return undefined;
  const notBeforeMs = Date.parse(peer.valid_from);
  const notAfterMs = Date.parse(peer.valid_to);
  if (!Number.isFinite(notBeforeMs) || !Number.isFinite(notAfterMs)) return undefined;
  try {
    return { serial: normalizeSerial(peer.serialNumber), notBeforeMs, notAfterMs };
  } catch {
    return undefined;
  }
}

/** Whether a held certificate is still good at `nowMs` under a CRL revoking `revokedSerials`. */
export function stillValid(held: HeldCertificate, revokedSerials: ReadonlySet<string>, nowMs: number): boolean {
  return !revokedSerials.has(held.serial) && nowMs >= held.notBeforeMs && nowMs <= held.notAfterMs;
}
