import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { SealedBox } from '@ferry/common';
import { TenantKeysRepository, TenantsRepository, type TenantKeyRow } from '@ferry/catalog';
import { BlobStore } from '@ferry/storage';
import { createTenantKey, encodeKeyring, unwrapTenantKey, type WrappedTenantKey } from './tenant-keys.js';

import { KEYRING_BLOB } from './keyring-blob.js';

const KEY_CACHE_MS = 60_000;

export interface TenantKeys {
  chunkIdKey: Buffer;
  /** The newest data key: new packs are written with it. */
  current: { number: number; key: Buffer };
  dataKey(number: number): Buffer;
}

/**
 * A tenant's keys, unwrapped with the operator's master key and cached for the life of the process.
 * Keys are created on first use; the container's `ferry/keyring` is rewritten before a new key
 * encrypts anything, so the container alone always holds every key its packs need.
 */
@Injectable()
export class TenantKeyring {
  private readonly box: SealedBox;
  private readonly cache = new Map<string, { keys: Promise<TenantKeys>; loadedAt: number }>();

  constructor(
    @Inject(FERRY_CONFIG) config: ResolvedConfig,
    private readonly keys: TenantKeysRepository,
    private readonly tenants: TenantsRepository,
    private readonly blobs: BlobStore,
  ) {
    this.box = new SealedBox(config.masterKey.id, config.masterKey.key.reveal());
  }

  /** The tenant's keys, created on first use. */
  async forTenant(tenantId: string): Promise<TenantKeys> {
    let entry = this.cache.get(tenantId);
    // reloaded now and then: a rotation by the console reaches the workers within a minute
    if (!entry || Date.now() - entry.loadedAt > KEY_CACHE_MS) {
      entry = { keys: this.load(tenantId, false), loadedAt: Date.now() };
      this.cache.set(tenantId, entry);
      entry.keys.catch(() => this.cache.delete(tenantId));
    }
    return entry.keys;
  }

  /** A new data key for the tenant's new packs; older packs stay readable with theirs. */
  async rotate(tenantId: string): Promise<number> {
    const keys = this.load(tenantId, true);
    this.cache.set(tenantId, { keys, loadedAt: Date.now() });
    return (await keys).current.number;
  }

  /** Forgets cached keys: another process may have rotated them. */
  forget(tenantId: string): void {
    this.cache.delete(tenantId);
  }

  private async load(tenantId: string, rotate: boolean): Promise<TenantKeys> {
    let rows = await this.keys.list(tenantId);
    const wanted: { kind: TenantKeyRow['kind']; number: number }[] = [];
    if (!rows.some((row) => row.kind === 'chunk-id')) wanted.push({ kind: 'chunk-id', number: 1 });
    const newestData = Math.max(0, ...rows.filter((row) => row.kind === 'data').map((row) => row.number));
    if (newestData === 0 || rotate) wanted.push({ kind: 'data', number: newestData + 1 });
    if (wanted.length > 0) {
      const created = wanted.map(({ kind, number }) => createTenantKey(this.box, tenantId, kind, number).wrapped);
      // The keyring blob first: a key that encrypts a pack must be in the container before the pack.
      await this.writeKeyring(tenantId, [...rows, ...created]);
      for (const key of created) await this.keys.add(tenantId, key);
      rows = await this.keys.list(tenantId);
      // another process may have won a race and created different keys: the container gets the winners
      if (created.some((key) => !rows.some((row) => row.kind === key.kind && row.number === key.number && row.wrapped.equals(key.wrapped)))) {
        await this.writeKeyring(tenantId, rows);
      }
    }
    const unwrapped = new Map<string, Buffer>();
    for (const row of rows) unwrapped.set(`${row.kind}/${row.number}`, unwrapTenantKey(this.box, tenantId, row));
    const dataNumbers = rows.filter((row) => row.kind === 'data').map((row) => row.number);
    const current = Math.max(...dataNumbers);
    return {
      chunkIdKey: unwrapped.get('chunk-id/1')!,
      current: { number: current, key: unwrapped.get(`data/${current}`)! },
      dataKey: (number: number) => {
        const key = unwrapped.get(`data/${number}`);
        if (!key) throw new Error(`tenant ${tenantId} has no data key ${number}`);
        return key;
      },
    };
  }

  private async writeKeyring(tenantId: string, keys: WrappedTenantKey[]): Promise<void> {
    const tenant = await this.tenants.get(tenantId);
    await this.blobs.putBuffers(tenant.container, KEYRING_BLOB, [encodeKeyring(tenantId, keys)]);
  }
}
