/**
 * Certificate serial numbers. Issued serials are 128 random bits read as a positive integer; their
 * canonical text form is lowercase hex without leading zero bytes (what @peculiar/x509 reports).
 * Serials typed by people or reported by node (uppercase, colons, leading zeros) are normalized
 * before any comparison.
 */
import { assert } from '../base/index.ts';
import { certSerialBytes } from '../config/index.ts';
import { PkiError } from './errors.ts';

/** The canonical serial for `certSerialBytes` random bytes; an all-zero draw is not a valid serial. */
export function serialFromRandomBytes(bytes: Uint8Array): string {
  assert(bytes.length === certSerialBytes, `serial needs ${certSerialBytes} random bytes, got ${bytes.length}`);
  const hex = Buffer.from(bytes).toString('hex');
  const trimmed = hex.replace(/^(00)+/, '');
  assert(trimmed.length > 0, 'serial must not be zero');
  return trimmed;
}

/** Canonical form of a serial written by a person or another tool; throws INVALID_NAME if it is not hex. */
export function normalizeSerial(text: string): string {
  const hex = text.trim().replace(/[:\s]/g, '').toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 2 * (certSerialBytes + 4)) {
    throw new PkiError('INVALID_NAME', `serial ${JSON.stringify(text)} is not a hexadecimal certificate serial`);
  }
  const digits = hex.replace(/^0+/, '');
  if (digits === '') throw new PkiError('INVALID_NAME', `serial ${JSON.stringify(text)} is zero`);
  return digits.length % 2 === 0 ? digits : `0${digits}`;
}
