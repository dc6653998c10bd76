// Test support for ca-registry.test.ts: another process writing the same CA directory. Loads the CA
// in <dir>, says "ready", waits for a line on stdin, then issues <count> member certificates
// <prefix>0 … one after another (members: no .p12 to build, so most of each issue is the registry's
// read-modify-write), printing each serial on its own line.
import { once } from 'node:events';
import { issueMember, loadCa } from '../../../src/pki/index.ts';

const [dir = '', prefix = '', count = '0'] = process.argv.slice(2);
const signer = await loadCa(dir);
process.stdout.write('ready\n');
await once(process.stdin, 'data');
process.stdin.pause();
for (let i = 0; i < Number(count); i++) {
  const issued = await issueMember(signer, { name: `${prefix}${i}`, hosts: ['127.0.0.1'] });
  process.stdout.write(`${issued.serial}\n`);
}
