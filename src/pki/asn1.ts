/**
 * DER builders over node-forge's ASN.1, for the structures the PKI writes itself: the PKCS#12 file
 * (pkcs12.ts) and the encrypted CA key (private-key.ts). forge holds bytes as binary strings; `binary`
 * turns bytes into one.
 */
import forge from 'node-forge';

const { asn1, pki } = forge;
export type Asn1 = forge.asn1.Asn1;

export function binary(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('binary');
}

export function toDer(value: Asn1): Buffer {
  return Buffer.from(asn1.toDer(value).getBytes(), 'binary');
}

export function seq(children: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, children);
}

export function set(children: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, children);
}

export function explicit0(children: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, children);
}

export function octets(bytes: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes);
}

export function integer(value: number): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(value).getBytes());
}

export function nullValue(): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '');
}

export function bmpString(text: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, text);
}

/** An OBJECT IDENTIFIER by its name in forge's table (pki.oids). */
export function oid(name: string): Asn1 {
  const id = pki.oids[name];
  if (id === undefined) throw new Error(`node-forge lacks OID ${name}`);
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(id).getBytes());
}
