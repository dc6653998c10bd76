/**
 * How a stored value reaches the terminal (`secret get --reveal`, `configmap get`): one rule for both.
 * A value anyone could write must not drive the terminal, so it is shown as text only when it is
 * UTF-8 without control characters other than newline and tab — no ESC, CR, backspace, DEL or C1
 * control (U+0080–U+009F, which some terminals take as ESC sequences too); any other value is shown
 * as `base64:…`, which says so and can be decoded back exactly. A value of several lines (a PEM
 * certificate) is shown as a block under its key, in the manner of kubectl describe.
 */

// eslint-disable-next-line no-control-regex -- control characters are exactly what must not reach the terminal raw
const unprintable = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // a leading BOM is part of the value

/** The text a value is shown as: itself when printable UTF-8 (newlines and tabs allowed), else `base64:…`. */
export function shownValue(bytes: Uint8Array): string {
  let text: string | undefined;
  try {
    text = utf8.decode(bytes);
  } catch {
    // not UTF-8: shown as base64 below
  }
  return text !== undefined && !unprintable.test(text) ? text : `base64:${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

/** Whether a shown value is printed as a block under its key rather than beside it. */
export function isBlock(shown: string): boolean {
  return shown.includes('\n');
}

/** `key:`, a rule, then the value as its own lines, and a blank line after it. */
export function valueBlock(key: string, shown: string): string {
  return `${key}:\n----\n${shown}${shown.endsWith('\n') ? '' : '\n'}\n`;
}
