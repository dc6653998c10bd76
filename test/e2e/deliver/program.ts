/**
 * The program `coffer exec` runs in its tests: appends what happens to it to <dir>/events.log — `start
 * <pid> <JSON of its T_* variables>` when it starts, `<signal> <pid>` for each signal — and stays up
 * until SIGTERM or SIGUSR1 (or, with `ignore-term`, ignores SIGTERM; with `exit:N`, exits N at once).
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir = '.', mode = 'normal'] = process.argv.slice(2);
const log = (line: string) => appendFileSync(join(dir, 'events.log'), `${line}\n`);
const variables = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('T_')));
log(`start ${process.pid} ${JSON.stringify(variables)}`);
if (mode.startsWith('exit:')) process.exit(Number(mode.slice('exit:'.length)));
process.on('SIGTERM', () => {
  log(`SIGTERM ${process.pid}`);
  if (mode !== 'ignore-term') process.exit(0);
});
process.on('SIGUSR1', () => {
  log(`SIGUSR1 ${process.pid}`);
  process.exit(0);
});
process.on('SIGHUP', () => log(`SIGHUP ${process.pid}`));
setInterval(() => undefined, 60_000);
