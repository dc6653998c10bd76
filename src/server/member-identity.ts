/**
 * Which cluster this data dir belongs to and which member it is, fixed at the member's first start and
 * sealed like everything else (`member.sealed`). Later starts must agree with it: a data dir never
 * silently changes name, id or cluster.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerConfig } from '../config/index.ts';
import { RecordKind, type SealedFile, type Sealer } from '../crypto/index.ts';
import { type DurableFs, nodeFs, readFileIfPresent } from '../durable/index.ts';
import { writeFileAtomic } from '../pki/index.ts';

export interface MemberIdentity {
  clusterId: string;
  memberId: number;
  name: string;
}

const fileName = 'member.sealed';
const position = (name: string) => ({ storeId: `${name}/identity`, kind: RecordKind.memberIdentity, index: 0, sub: 0 });

/** A new cluster's id: from the token and the initial member names (not URLs, which may differ per member). */
export function newClusterId(config: ServerConfig): string {
  const names = config.initialCluster.map((m) => m.name).sort().join(',');
  return createHash('sha256').update(`${config.initialClusterToken}\n${names}`).digest('hex').slice(0, 16);
}

export async function loadOrCreateIdentity(config: ServerConfig, sealer: Sealer): Promise<{ identity: MemberIdentity; created: boolean }> {
  const path = join(config.dataDir, fileName);
  let sealed: Buffer | undefined;
  try {
    sealed = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (sealed !== undefined) {
    const identity = JSON.parse(new TextDecoder().decode(sealer.open(sealed, position(config.name)))) as MemberIdentity;
    if (identity.name !== config.name) throw new Error(`data dir ${config.dataDir} belongs to member ${identity.name}, not ${config.name}`);
    return { identity, created: false };
  }
  const identity: MemberIdentity = config.join
    ? { clusterId: config.clusterId!, memberId: config.memberId!, name: config.name }
    : { clusterId: newClusterId(config), memberId: config.initialCluster.findIndex((m) => m.name === config.name) + 1, name: config.name };
  await writeIdentity(config.dataDir, identity, sealer);
  return { identity, created: true };
}

/** Seals and writes `member.sealed` (a restore writes it before the member's first start). */
export async function writeIdentity(dataDir: string, identity: MemberIdentity, sealer: Sealer): Promise<void> {
  await writeFileAtomic(join(dataDir, fileName), sealer.seal(new TextEncoder().encode(JSON.stringify(identity)), position(identity.name)), 0o600);
}

/** The identity file as DEK rotation sees it (storage/barrier): its sealed bytes, and a rewrite sealed with the active DEK. */
export function identitySealedFile(dataDir: string, identity: MemberIdentity, sealer: Sealer, fs: DurableFs = nodeFs): SealedFile {
  const sealed = () => readFileIfPresent(fs, join(dataDir, fileName));
  return {
    sealed,
    async reseal() {
      if ((await sealed()) !== undefined) await writeIdentity(dataDir, identity, sealer);
    },
  };
}
