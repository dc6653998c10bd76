/**
 * The barrier: the one component between a member and its disk that holds the keyring (docs/architecture.md,
 * "The barrier"). Every owner of a sealed area of the data dir (areas.ts) seals and opens its pages with
 * the handle the barrier gave it for that area; the barrier itself writes the keyring file; key rotation
 * and DEK retirement across all areas are its job (member-keys.ts), and the key status is read from it.
 * Whoever holds a Barrier, not a Keyring, can seal only through a handle, and only the kinds its area
 * declares.
 *
 * Invariant: a handle seals under the keyring's active DEK only, so once an older DEK's count reaches
 * zero in every area it stays zero (the retirement argument in member-keys.ts).
 */
import { assert } from '../../base/index.ts';
import { type KekProvider, type Keyring, type KeyringStatus, openKeyring, type PagePosition, recordKindName, type Sealer } from '../../crypto/index.ts';
import type { SealedArea } from './areas.ts';
import { MemberKeys, type MemberKeysOptions } from './member-keys.ts';

/** A handle sealing one area's pages (Barrier.handle); its constructor is the barrier's alone. */
class BarrierHandle implements Sealer {
  constructor(private readonly keyring: Keyring, readonly area: SealedArea) {}

  seal(plaintext: Uint8Array, position: PagePosition): Uint8Array {
    this.assertKind(position);
    return this.keyring.seal(plaintext, position);
  }

  open(sealed: Uint8Array, position: PagePosition): Uint8Array {
    this.assertKind(position);
    return this.keyring.open(sealed, position);
  }

  activeDekId(): number {
    return this.keyring.activeDekId();
  }

  dekIdOf(sealed: Uint8Array): number {
    return this.keyring.dekIdOf(sealed);
  }

  private assertKind(position: PagePosition): void {
    assert(this.area.kinds.includes(position.kind), `the ${this.area.name} area does not seal ${recordKindName(position.kind)} pages`);
  }
}

/** What key rotation is handed besides the keyring: the areas' stores and files, pacing, clock and log. */
export type RotationParts = Omit<MemberKeysOptions, 'keyring' | 'dataDir'>;

export class Barrier {
  private readonly handles = new Map<string, BarrierHandle>();

  private constructor(private readonly keyring: Keyring, readonly dataDir: string) {}

  /** Opens the keyring of `dataDir` with `kek` (creating it on a first start): a wrong KEK is one SealedError, nothing written. */
  static async unseal(dataDir: string, kek: KekProvider): Promise<Barrier> {
    return new Barrier(await openKeyring({ dir: dataDir, kek }), dataDir);
  }

  /** The handle `area`'s owner seals with; one per area. */
  handle(area: SealedArea): Sealer {
    let handle = this.handles.get(area.name);
    if (handle === undefined) {
      handle = new BarrierHandle(this.keyring, area);
      this.handles.set(area.name, handle);
    }
    assert(handle.area === area, `two declarations of the sealed area ${area.name}`);
    return handle;
  }

  /** The keys as they are: KEK source, active DEK, every DEK with the pages sealed under it, the retired ones. */
  status(): KeyringStatus {
    return this.keyring.status();
  }

  /** Key rotation and DEK retirement over the areas' stores and files (member-keys.ts). */
  rotation(parts: RotationParts): MemberKeys {
    return new MemberKeys({ ...parts, keyring: this.keyring, dataDir: this.dataDir });
  }

  /** Wipes the keys; nothing seals or opens after. */
  close(): Promise<void> {
    return this.keyring.close();
  }
}
