/**
 * PKCS#12 export of a client credential (certificate + CA chain + private key) for tools and browsers
 * that want one password-protected file.
 *
 * node-forge's toPkcs12Asn1 only accepts RSA keys and forge certificate objects, so the PFX is
 * assembled here from forge's ASN.1 builders, its PBES2 key encryption and its PKCS#12 KDF, following
 * RFC 7292 with modern algorithms OpenSSL 3 opens without the legacy provider:
 * - key: pkcs8ShroudedKeyBag, PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC);
 * - certificates: an unencrypted data SafeContents (certificates are public);
 * - integrity: HMAC-SHA256 MAC keyed by the PKCS#12 KDF.
 * The key bag and the leaf's cert bag share a localKeyId (SHA-1 of the certificate) and friendlyName.
 */
import { createHash, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { p12KdfIterations } from '../config/index.ts';
import { type Asn1, binary, bmpString, explicit0, integer, nullValue, octets, oid, seq, set, toDer } from './asn1.ts';

const { asn1, pki } = forge;

const saltBytes = 16;

export interface Pkcs12Input {
  certificateDer: Uint8Array;
  chainDer: readonly Uint8Array[];
  /** Unencrypted PKCS#8 PrivateKeyInfo; not retained. */
  privateKeyPkcs8Der: Uint8Array;
  password: string;
  friendlyName: string;
}

export function buildPkcs12(input: Pkcs12Input): Buffer {
  const localKeyId = createHash('sha1').update(input.certificateDer).digest('binary');
  const attributes = set([
    seq([oid('localKeyId'), set([octets(localKeyId)])]),
    seq([oid('friendlyName'), set([bmpString(input.friendlyName)])]),
  ]);

  const certBags = [input.certificateDer, ...input.chainDer].map((der, i) =>
    seq([
      oid('certBag'),
      explicit0([seq([oid('x509Certificate'), explicit0([octets(binary(der))])])]),
      ...(i === 0 ? [attributes] : []),
    ]));

  const keyInfo = asn1.fromDer(binary(input.privateKeyPkcs8Der));
  const shroudedKey = pki.encryptPrivateKeyInfo(keyInfo, forge.util.encodeUtf8(input.password), {
    algorithm: 'aes256',
    prfAlgorithm: 'sha256',
    count: p12KdfIterations,
    saltSize: saltBytes,
  });
  const keyBag = seq([oid('pkcs8ShroudedKeyBag'), explicit0([shroudedKey]), attributes]);

  const authenticatedSafe = seq([dataContentInfo(seq(certBags)), dataContentInfo(seq([keyBag]))]);
  const authenticatedSafeDer = asn1.toDer(authenticatedSafe).getBytes();

  const macSalt = randomBytes(saltBytes).toString('binary');
  const macKey = forge.pkcs12.generateKey(input.password, forge.util.createBuffer(macSalt), 3, p12KdfIterations, 32, forge.md.sha256.create());
  const hmac = forge.hmac.create();
  hmac.start('sha256', macKey.getBytes());
  hmac.update(authenticatedSafeDer);
  const macData = seq([
    seq([seq([oid('sha256'), nullValue()]), octets(hmac.digest().getBytes())]),
    octets(macSalt),
    integer(p12KdfIterations),
  ]);

  const pfx = seq([
    integer(3),
    seq([oid('data'), explicit0([octets(authenticatedSafeDer)])]),
    macData,
  ]);
  return toDer(pfx);
}

function dataContentInfo(safeContents: Asn1): Asn1 {
  return seq([oid('data'), explicit0([octets(asn1.toDer(safeContents).getBytes())])]);
}
