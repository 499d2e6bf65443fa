import type { SealedBox } from '@ferry/common';
import type { BlobStore } from '@ferry/storage';
import { KEYRING_BLOB } from '../keys/keyring-blob.js';
import { decodeKeyring, unwrapTenantKey, type WrappedTenantKey } from '../keys/tenant-keys.js';
import type { CatalogEvent, PackChunkEntry } from '../pack/pack-format.js';
import { readPackIndex } from '../pack/pack.reader.js';

export interface ContainerPack {
  id: string;
  size: number;
  keyNumber: number;
  chunks: PackChunkEntry[];
}

export interface ContainerSnapshot {
  keys: WrappedTenantKey[];
  packs: ContainerPack[];
  /** Every event of every pack, once each (a flush repeated after a crash writes one twice). */
  events: CatalogEvent[];
  /** Pack blobs that could not be read (damaged, or of another tenant), with the reason. */
  unreadable: { name: string; reason: string }[];
}

const PACK_NAME = /^packs\/([0-9a-f-]{36})$/;

/**
 * Reads what a tenant's container says about itself: its keyring (unwrapped with the operator's
 * master key), and every pack's authenticated index. Only the container is consulted.
 */
export async function readContainer(blobs: BlobStore, box: SealedBox, tenantId: string, container: string): Promise<ContainerSnapshot> {
  const keyring = await blobs.readSmall(container, KEYRING_BLOB);
  if (!keyring) throw new Error(`container ${container} has no ${KEYRING_BLOB}: nothing in it can be read`);
  const decoded = decodeKeyring(keyring);
  if (decoded.tenantId !== tenantId) throw new Error(`container ${container} holds the keyring of tenant ${decoded.tenantId}, not ${tenantId}`);
  const dataKeys = new Map<number, Buffer>();
  for (const key of decoded.keys) {
    const unwrapped = unwrapTenantKey(box, tenantId, key);
    if (key.kind === 'data') dataKeys.set(key.number, unwrapped);
  }
  const snapshot: ContainerSnapshot = { keys: decoded.keys, packs: [], events: [], unreadable: [] };
  const seen = new Set<number>();
  for await (const blob of blobs.list(container, 'packs/')) {
    const packId = PACK_NAME.exec(blob.name)?.[1];
    if (!packId) continue;
    try {
      const { keyNumber, index } = await readPackIndex(
        (offset, length) => blobs.readRange(container, blob.name, offset, length),
        blob.size,
        async (number) => {
          const key = dataKeys.get(number);
          if (!key) throw new Error(`the keyring has no data key ${number}`);
          return key;
        },
        packId,
      );
      if (index.tenantId !== tenantId) throw new Error(`the pack belongs to tenant ${index.tenantId}`);
      snapshot.packs.push({ id: packId, size: blob.size, keyNumber, chunks: index.chunks });
      for (const event of index.events) {
        if (seen.has(event.seq)) continue;
        seen.add(event.seq);
        snapshot.events.push(event);
      }
    } catch (error) {
      snapshot.unreadable.push({ name: blob.name, reason: (error as Error).message });
    }
  }
  return snapshot;
}
