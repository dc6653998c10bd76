// Child process for the KEK rotation crash test: opens the keyring with the old key file, rotates the
// KEK to the new key file, and SIGKILLs itself right after the named step (argv: dir old new step).
import { keyFileKek, type KeyringStep, openKeyring } from '../../../src/crypto/index.ts';

const [dir, oldKey, newKey, crashAt] = process.argv.slice(2) as [string, string, string, KeyringStep | 'never'];
const keyring = await openKeyring({
  dir,
  kek: await keyFileKek(oldKey),
  onStep: (step) => {
    if (step === crashAt) process.kill(process.pid, 'SIGKILL');
  },
});
await keyring.rotateKek(await keyFileKek(newKey));
process.stdout.write('rotated\n');
