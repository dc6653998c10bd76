/**
 * Measures this machine's raw fdatasync rate (bench-fsync.ts): append a small record to a file and
 * fdatasync it, in a loop, for a fixed duration. This is the ceiling for WAL batches per second.
 *
 *   node --import tsx scripts/fsync-rate.ts [--dir DIR] [--seconds 5] [--bytes 256]
 */
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { measureFsyncRate } from './bench-fsync.ts';

const { values } = parseArgs({
  options: { dir: { type: 'string' }, seconds: { type: 'string', default: '5' }, bytes: { type: 'string', default: '256' } },
});
/** `raw` as a number > 0 (a whole one if `whole`), or one line on stderr and exit 2. */
function positive(name: string, raw: string, whole: boolean): number {
  const n = Number(raw);
  if (n > 0 && Number.isFinite(n) && (!whole || Number.isSafeInteger(n))) return n;
  process.stderr.write(`fsync-rate: --${name} "${raw}" must be a ${whole ? 'whole ' : ''}number above 0\n`);
  process.exit(2);
}
const seconds = positive('seconds', values.seconds, false);
const bytes = positive('bytes', values.bytes, true);
process.stdout.write(`${JSON.stringify(measureFsyncRate(values.dir ?? tmpdir(), seconds, bytes))}\n`);
