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
process.stdout.write(`${JSON.stringify(measureFsyncRate(values.dir ?? tmpdir(), Number(values.seconds), Number(values.bytes)))}\n`);
