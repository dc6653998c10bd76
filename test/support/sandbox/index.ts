/**
 * test/support/sandbox — a user's terminal for end-to-end tests of what the README and the scripts
 * print: a fresh copy of the checkout (checkout.ts) and a bash session with a loopback of its own
 * (shell.ts), so fixed ports do not collide with other tests.
 */
export { copyCheckout, removeCheckout } from './checkout.ts';
export { type CommandResult, IsolatedShell, type Job } from './shell.ts';
