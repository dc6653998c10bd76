/**
 * The length of a passphrase in characters, as the rule newPassphraseCharsMin counts it: code points
 * of its UTF-8, or one per byte when the bytes are not UTF-8.
 */
export function passphraseChars(passphrase: Uint8Array): number {
  try {
    return [...new TextDecoder('utf-8', { fatal: true }).decode(passphrase)].length;
  } catch {
    return passphrase.length;
  }
}
