/**
 * The rule for a passphrase that protects something new an attacker can carry away and guess at
 * offline (newPassphraseCharsMin), and the one way a refusal says so. Its length is counted in
 * characters: code points of its UTF-8, or one per byte when the bytes are not UTF-8.
 */
import { newPassphraseCharsMin } from './limits.ts';

function passphraseChars(passphrase: Uint8Array): number {
  try {
    return [...new TextDecoder('utf-8', { fatal: true }).decode(passphrase)].length;
  } catch {
    return passphrase.length;
  }
}

/**
 * Why `passphrase` may not protect something new, naming its length only; undefined when it may.
 * `subject` names the passphrase, `protects` what it would protect ("a new keyring"), `taken` what an
 * attacker would guess at ("its file").
 */
export function shortNewPassphrase(passphrase: Uint8Array, subject: string, protects: string, taken: string): string | undefined {
  const chars = passphraseChars(passphrase);
  if (chars >= newPassphraseCharsMin) return undefined;
  return `${subject} is ${chars} ${chars === 1 ? 'character' : 'characters'}; ${protects} needs at least ${newPassphraseCharsMin}: ${taken} can be attacked offline`;
}
