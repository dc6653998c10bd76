// The plaintext bytes of every msgpack record Coffer persists or sends, compared with fixed golden
// bytes: a msgpack library upgrade, or a codec option changed in src/base/msgpack.ts, that alters
// what goes to disk or onto the wire fails here instead of silently changing the format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PagePosition, Sealer } from '../../../src/crypto/index.ts';
import { encodeCommand } from '../../../src/replication/command.ts';
import { pack, recordToWire } from '../../../src/storage/backup/records.ts';
import { type Meta, type Page, sealMeta, sealPage } from '../../../src/storage/mvcc/page.ts';
import { encodeMarker, encodeState } from '../../../src/storage/wal/codec.ts';
import { encodePeerFrame } from '../../../src/transport/index.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');

/** A Sealer seam that keeps a copy of the plaintext it is handed (the caller wipes the original; a Buffer's slice() would share it). */
function capturingSealer(): { sealer: Sealer; plaintext: () => Uint8Array } {
  let captured: Uint8Array | undefined;
  const sealer: Sealer = {
    seal(plain: Uint8Array, _position: PagePosition) {
      captured = new Uint8Array(plain);
      return new Uint8Array(0);
    },
    open: () => assert.fail('not opened here'),
    activeDekId: () => 1,
    dekIdOf: () => 1,
  };
  return { sealer, plaintext: () => captured ?? assert.fail('nothing was sealed') };
}

const confState = { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false };
const page: Page = {
  key: bytes('/registry/secrets/ns/a'), value: bytes('v1'), main: 70000, sub: 1, createRevision: 300, version: 2,
  tombstone: false, prevMain: 2 ** 33, prevSub: 0, lease: 0,
};

test('WAL state records keep their bytes', () => {
  assert.equal(hex(encodeState({ hardState: { term: 5, vote: 2, commit: 70000 }, confState })), 'de0002a9686172645374617465de0003a47465726d05a4766f746502a6636f6d6d6974ce00011170a9636f6e665374617465de0005a6766f7465727393010203a86c6561726e6572739104ae766f746572734f7574676f696e6790ac6c6561726e6572734e65787490a96175746f4c65617665c2');
});

test('WAL snapshot markers keep their bytes', () => {
  assert.equal(hex(encodeMarker({ index: 300, term: 5, confState, chunks: 2, bytes: 2 ** 33 })), 'de0005a5696e646578cd012ca47465726d05a9636f6e665374617465de0005a6766f7465727393010203a86c6561726e6572739104ae766f746572734f7574676f696e6790ac6c6561726e6572734e65787490a96175746f4c65617665c2a66368756e6b7302a56279746573cb4200000000000000');
});

test('Raft commands in WAL entries keep their bytes', () => {
  const put = encodeCommand({ requestId: 'm1.ab.7', op: { type: 'put', key: bytes('k'), value: bytes('v'), prevKv: true } });
  assert.equal(hex(put), 'de0002a9726571756573744964a76d312e61622e37a26f70de0004a474797065a3707574a36b6579c4016ba576616c7565c40176a6707265764b76c3');
  const del = encodeCommand({ requestId: 'm1.ab.8', op: { type: 'deleteRange', key: bytes('a'), end: bytes('b'), prevKv: undefined } });
  assert.equal(hex(del), 'de0002a9726571756573744964a76d312e61622e38a26f70de0004a474797065ab64656c65746552616e6765a36b6579c40161a3656e64c40162a6707265764b76d40000');
});

test('MVCC pages and the meta record keep their plaintext bytes', () => {
  const pages = capturingSealer();
  sealPage(pages.sealer, 's', page);
  assert.equal(hex(pages.plaintext()), '9a01c4162f72656769737472792f736563726574732f6e732f61c4027631ce0001117001cd012c0200cb420000000000000000');
  const meta: Meta = { storeId: 'm1/mvcc', appliedIndex: 41, revision: 70000, compactRevision: 12, finishedCompactRevision: 12 };
  const metas = capturingSealer();
  sealMeta(metas.sealer, meta);
  assert.equal(hex(metas.plaintext()), '9601a76d312f6d76636329ce000111700c0c');
});

test('backup records keep their plaintext bytes', () => {
  const chunk = pack([
    recordToWire({ type: 'header', appliedIndex: 41, revision: 70000, compactRevision: 0 }),
    recordToWire({ type: 'page', page }),
  ]);
  assert.equal(hex(chunk), '92940029ce00011170009a01c4162f72656769737472792f736563726574732f6e732f61c4027631ce0001117001cd012c0200cb420000000000000000');
});

test('peer frames keep their bytes', () => {
  const frame = encodePeerFrame({
    kind: 'raft',
    message: {
      type: 'app', from: 1, to: 2, term: 7, logTerm: 6, index: 41, commit: 40, reject: false, rejectHint: 0,
      entries: [{ index: 42, term: 7, type: 'normal', data: new Uint8Array([1, 2, 3]) }],
    },
  });
  assert.equal(hex(frame), 'de0002a46b696e64a472616674a76d657373616765de000aa474797065a3617070a466726f6d01a2746f02a47465726d07a76c6f675465726d06a5696e64657829a6636f6d6d697428a672656a656374c2aa72656a65637448696e7400a7656e747269657391de0004a5696e6465782aa47465726d07a474797065a66e6f726d616ca464617461c403010203');
});
