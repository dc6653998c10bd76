/**
 * The rotation demo's database (scripts/rotation-demo.sh): a stand-in that checks a password on every
 * request, over HTTP on a Unix socket (<dir>/db.sock, so no port can collide). Its password is the file
 * <dir>/db/password, which `coffer render --stage pending` keeps current; like a database with dual
 * passwords (MySQL's RETAIN CURRENT PASSWORD), when the file changes it takes the new password and keeps
 * accepting the one before, so clients still holding it go on working until they have moved over.
 *
 *   node --import tsx scripts/demo/database.ts <dir>
 *
 * GET /stats answers {"accepted","refused","changes"}. Passwords are never printed.
 */
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';

const dir = process.argv[2] ?? 'data/demo';
const socket = join(dir, 'db.sock');
const passwordFile = join(dir, 'db', 'password');
let primary = readFileSync(passwordFile);
let secondary: Buffer | undefined;
const stats = { accepted: 0, refused: 0, changes: 0 };

/** The password file now; a change moves the current password to second place. */
function currentPasswords(): Buffer[] {
  const latest = readFileSync(passwordFile);
  if (!latest.equals(primary)) {
    secondary = primary;
    primary = latest;
    stats.changes++;
    process.stdout.write(`database: accepting a new password from ${passwordFile}; the previous one still works\n`);
  }
  return secondary === undefined ? [primary] : [primary, secondary];
}

const matches = (given: Buffer, known: Buffer) => given.length === known.length && timingSafeEqual(given, known);

rmSync(socket, { force: true });
const server = createServer((req, res) => {
  if (req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    return;
  }
  const given = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer /, ''));
  if (currentPasswords().some((known) => matches(given, known))) {
    stats.accepted++;
    res.writeHead(200).end('ok');
  } else {
    stats.refused++;
    res.writeHead(401).end('wrong password');
  }
});
server.listen(socket, () => process.stdout.write(`database: listening on ${socket}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
