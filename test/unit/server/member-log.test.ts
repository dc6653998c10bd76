// The member's log before and after the client API's logger exists: the stages before the APIs stage
// log through it; until it is attached a line is dropped, except a fatal one, which reaches stderr.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemberLog } from '../../../src/server/member-log.ts';

function capturingStderr<T>(work: () => T): { result: T; written: string } {
  const original = process.stderr.write.bind(process.stderr);
  let written = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    return { result: work(), written };
  } finally {
    process.stderr.write = original;
  }
}

test('before it is attached, only a fatal line is written (to stderr), with its fields', () => {
  const log = new MemberLog();
  const { written } = capturingStderr(() => {
    log.info({ a: 1 }, 'dropped info');
    log.warn({ a: 2 }, 'dropped warn');
    log.error({ a: 3 }, 'dropped error');
    log.fatal({ reason: 'disk' }, 'the member stopped');
  });
  assert.equal(written, 'the member stopped: {"reason":"disk"}\n');
});

test('once attached, every level goes to the logger and nothing to stderr', () => {
  const log = new MemberLog();
  const lines: string[] = [];
  const at = (level: string) => (fields: object, message: string) => { lines.push(`${level} ${message} ${JSON.stringify(fields)}`); };
  log.attach({ info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') });
  const { written } = capturingStderr(() => {
    log.info({ a: 1 }, 'i');
    log.warn({ a: 2 }, 'w');
    log.error({ a: 3 }, 'e');
    log.fatal({ a: 4 }, 'f');
  });
  assert.equal(written, '');
  assert.deepEqual(lines, ['info i {"a":1}', 'warn w {"a":2}', 'error e {"a":3}', 'fatal f {"a":4}']);
});
