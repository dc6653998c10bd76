// Child process for the re-seal SIGKILL test: one loop appends entries and prints "durable <index>"
// once each append resolved; another rotates the DEK and re-seals the WAL, over and over, printing
// "resealing" and "resealed" around each re-seal (argv: dir keyFile term).
import path from 'node:path';
import { keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { Wal } from '../../../src/storage/wal/index.ts';
import { payload } from '../../unit/wal/helpers.ts';

const [dir, keyFile, termText] = process.argv.slice(2) as [string, string, string];
const term = Number(termText);
const keyring = await openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(keyFile), createIfMissing: false });
const wal = await Wal.open({ dir: path.join(dir, 'data', 'wal'), sealer: keyring, storeId: 'm1/raft', segmentBytesTarget: 16 * 1024 });
process.stdout.write(`ready ${wal.lastIndex()}\n`);

async function appender(): Promise<never> {
  for (let index = wal.lastIndex() + 1; ; index++) {
    await wal.append([{ index, term, type: 'normal', data: payload(index, term, 32 + (index % 200)) }]);
    if (index % 50 === 0) await wal.setHardState({ term, vote: 1, commit: index - 1 });
    process.stdout.write(`durable ${index}\n`);
  }
}

async function resealer(): Promise<never> {
  for (;;) {
    await keyring.rotateDek();
    process.stdout.write('resealing\n');
    await wal.resealToActiveDek();
    process.stdout.write('resealed\n');
  }
}

await Promise.all([appender(), resealer()]);
