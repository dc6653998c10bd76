/**
 * The rotation demo's application (scripts/rotation-demo.sh): run by `coffer exec --secret demo-db:DB_`,
 * it takes its database password from DB_PASSWORD and sends the database (scripts/demo/database.ts) one
 * request after another until SIGTERM, when it finishes the request in flight and prints how many it
 * sent and how many failed. The password is never printed.
 *
 *   node --import tsx scripts/demo/app.ts <dir>
 */
import { request } from 'node:http';
import { join } from 'node:path';

const socket = join(process.argv[2] ?? 'data/demo', 'db.sock');
const password = process.env.DB_PASSWORD;
if (password === undefined || password === '') {
  process.stderr.write('app: DB_PASSWORD is not set (run me under coffer exec --secret demo-db:DB_)\n');
  process.exit(2);
}
let sent = 0;
let failed = 0;
let stopping = false;

function query(): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const req = request({ socketPath: socket, path: '/query', headers: { authorization: `Bearer ${password}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end();
  }).catch(() => false); // a password that cannot be a header value fails the request, as a wrong one would
}

process.on('SIGTERM', () => { stopping = true; });
process.on('SIGINT', () => { stopping = true; });
process.stdout.write(`app: started with the password in DB_PASSWORD (pid ${process.pid})\n`);
while (!stopping) {
  sent++;
  if (!(await query())) failed++;
  await new Promise((resolve) => setTimeout(resolve, 10));
}
process.stdout.write(`app: stopped after ${sent} requests, ${failed} failed\n`);
process.exitCode = failed === 0 ? 0 : 1;
