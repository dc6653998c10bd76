/**
 * Whether a member answers 200 on a health path, for the scripts that start members (start.ts,
 * cluster.ts): they poll /readyz, which no audit policy records, and say "ready" only then.
 */
import { request } from 'node:https';

/** How often the scripts ask; one answer may take up to four times this. */
export const readyPollMs = 250;

/** Whether GET url answers 200 within four poll intervals. */
export function answersOk(url: string, tls: { cert: string; key: string; ca: string }): Promise<boolean> {
  return new Promise((resolveOk) => {
    const req = request(url, { ...tls, timeout: readyPollMs * 4 }, (res) => {
      res.resume();
      resolveOk(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveOk(false));
    req.end();
  });
}
