// Child process for the SIGKILL test: appends entries forever from `appenders` concurrent loops and
// prints "durable <index>" for each entry once its append resolved (argv: dir keyFile term appenders).
import path from 'node:path';
import { keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { Wal } from '../../../src/storage/wal/index.ts';
import { payload } from '../../unit/wal/helpers.ts';

const [dir, keyFile, termText, appendersText] = process.argv.slice(2) as [string, string, string, string];
const term = Number(termText);
const keyring = await openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(keyFile), createIfMissing: false });
const wal = await Wal.open({ dir: path.join(dir, 'data', 'wal'), sealer: keyring, storeId: 'm1/raft', segmentBytesTarget: 64 * 1024 });
process.stdout.write(`ready ${wal.lastIndex()}\n`);

let next = wal.lastIndex() + 1;
async function appender(): Promise<never> {
  for (;;) {
    const index = next++;
    const durable = wal.append([{ index, term, type: 'normal', data: payload(index, term, 32 + (index % 200)) }]);
    if (index % 50 === 0) void wal.setHardState({ term, vote: 1, commit: index - 1 });
    process.stdout.write(`durable ${await durable}\n`);
  }
}
await Promise.all(Array.from({ length: Number(appendersText) }, appender));
