/**
 * The one place @peculiar/x509 is bound to node's WebCrypto, and the key algorithm Coffer uses
 * everywhere: ECDSA on P-256 with SHA-256. Every module that signs or parses with x509 imports from
 * here, so the provider is set before first use.
 */
import './reflect-metadata.ts';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
export const subtle = webcrypto.subtle;
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A fresh P-256 key pair; extractable so the private key can be written out as PKCS#8. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
}
