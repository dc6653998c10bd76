// The member's failure-handling, audit retention and history retention settings: defaults from
// config/limits.ts, sizes and durations in the forms an operator writes, and one clear error naming the
// key for a bad value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  auditRetentionAgeMsMaxDefault, auditRetentionAgeMsMinDefault, auditRetentionBytesMaxDefault, exitGraceMsDefault,
  historyRetentionMsDefault, historyRetentionMsMax, historyRetentionMsMin, parseServerConfig,
  type RawServerConfig, ServerConfigError,
} from '../../../src/config/index.ts';

const base: RawServerConfig = {
  name: 'm1', dataDir: 'data/m1', listenClient: 'https://127.0.0.1:7443', listenPeer: 'https://127.0.0.1:7444',
  cert: 'm1.crt', key: 'm1.key', cacert: 'ca.crt', unsealKeyFile: 'm1.key',
};

test('without the settings, the defaults apply', () => {
  const config = parseServerConfig(base, {});
  assert.deepEqual(config.auditRetention, { bytesMax: auditRetentionBytesMaxDefault, ageMsMax: auditRetentionAgeMsMaxDefault, ageMsMin: auditRetentionAgeMsMinDefault });
  assert.equal(config.exitGraceMs, exitGraceMsDefault);
  assert.equal(config.stayWhenRemoved, false);
});

test('sizes take bytes or Ki/Mi/Gi/Ti, durations ms/s/m/h/d', () => {
  const config = parseServerConfig({
    ...base, auditRetentionBytesMax: '2Gi', auditRetentionAgeMax: '30d', auditRetentionAgeMin: '12h', exitGrace: '500ms', stayWhenRemoved: true,
  }, {});
  assert.deepEqual(config.auditRetention, { bytesMax: 2 * 1024 ** 3, ageMsMax: 30 * 86_400_000, ageMsMin: 12 * 3_600_000 });
  assert.equal(config.exitGraceMs, 500);
  assert.equal(config.stayWhenRemoved, true);
  assert.equal(parseServerConfig({ ...base, auditRetentionBytesMax: '167772160' }, {}).auditRetention.bytesMax, 167_772_160);
});

test('a bad size, a bad duration, or a minimum retention above the maximum is one error naming the key', () => {
  const refused = (raw: RawServerConfig, pattern: RegExp) => assert.throws(() => parseServerConfig({ ...base, ...raw }, {}),
    (e: unknown) => e instanceof ServerConfigError && pattern.test(e.message));
  refused({ auditRetentionBytesMax: '1GB' }, /^config auditRetentionBytesMax: "1GB" is not a size like 167772160, 160Mi or 2Gi$/);
  refused({ auditRetentionBytesMax: '0' }, /^config auditRetentionBytesMax: must be at least 1 byte$/);
  refused({ auditRetentionAgeMax: '3 days' }, /^config auditRetentionAgeMax: "3 days" is not a duration like 30s, 15m, 24h or 90d$/);
  refused({ exitGrace: '-1s' }, /^config exitGrace: /);
  refused({ auditRetentionAgeMin: '10d', auditRetentionAgeMax: '1d' }, /^config auditRetentionAgeMin: 10d is longer than auditRetentionAgeMax \(1d\)$/);
});

test('history retention defaults to historyRetentionMsDefault (5 minutes) and takes a value within its bounds', () => {
  assert.equal(historyRetentionMsDefault, 5 * 60_000);
  assert.equal(parseServerConfig(base, {}).historyRetentionMs, historyRetentionMsDefault);
  assert.equal(parseServerConfig({ ...base, historyRetentionMs: '3600000' }, {}).historyRetentionMs, 3_600_000);
  assert.equal(parseServerConfig({ ...base, historyRetentionMs: String(historyRetentionMsMin) }, {}).historyRetentionMs, historyRetentionMsMin);
  assert.equal(parseServerConfig({ ...base, historyRetentionMs: String(historyRetentionMsMax) }, {}).historyRetentionMs, historyRetentionMsMax);
});

test('a history retention outside its bounds or not a whole number is refused, naming the key', () => {
  for (const value of [String(historyRetentionMsMin - 1), String(historyRetentionMsMax + 1), '0', '-5', '150000.5', 'five minutes', '']) {
    assert.throws(() => parseServerConfig({ ...base, historyRetentionMs: value }, {}),
      { message: `config historyRetentionMs: ${value} is not a whole number of milliseconds in [${historyRetentionMsMin}, ${historyRetentionMsMax}]` }, value);
  }
});

test('every missing required setting is named at once, by its flag', () => {
  assert.throws(() => parseServerConfig({ name: 'm4' }, {}), {
    message: 'config: missing --data-dir, --listen-client, --listen-peer, --cert, --key, --cacert and one of --unseal-key-file, '
      + '--passphrase-file, --kms-socket or COFFER_UNSEAL_PASSPHRASE (see coffer server --help)',
  });
  assert.throws(() => parseServerConfig({ ...base, cert: '', join: true }, {}), {
    message: 'config: missing --cert, --member-id (with --join) and --cluster-id (with --join) (see coffer server --help)',
  });
  const { unsealKeyFile: _unseal, ...sealed } = base;
  assert.throws(() => parseServerConfig(sealed, {}), { message: 'config: missing one of --unseal-key-file, --passphrase-file, --kms-socket or COFFER_UNSEAL_PASSPHRASE (see coffer server --help)' });
  assert.equal(parseServerConfig(sealed, { COFFER_UNSEAL_PASSPHRASE: 'p' }).unseal.kind, 'passphraseEnv');
});
