import { randomBytes } from 'node:crypto';
import { SealedBox } from '@ferry/common';
import { describe, expect, it } from 'vitest';
import { createTenantKey, decodeKeyring, encodeKeyring, unwrapTenantKey, type WrappedTenantKey } from './tenant-keys.js';

const box = new SealedBox('master-1', randomBytes(32).toString('base64'));
const TENANT = '6f1c1f5e-3d2a-4d8e-9a57-2b9b1c0f4e11';

describe('tenant keys', () => {
  it('creates 32 random bytes wrapped by the master key, and unwraps them', () => {
    const { key, wrapped } = createTenantKey(box, TENANT, 'data', 1);
    expect(key).toHaveLength(32);
    expect(wrapped).toMatchObject({ kind: 'data', number: 1, masterKeyId: 'master-1' });
    expect(wrapped.wrapped.includes(key)).toBe(false);
    expect(unwrapTenantKey(box, TENANT, wrapped).equals(key)).toBe(true);
    expect(createTenantKey(box, TENANT, 'data', 1).key.equals(key)).toBe(false);
  });

  it('wraps with the associated data tenant-key/<tenantId>/<kind>/<number>', () => {
    const { key, wrapped } = createTenantKey(box, TENANT, 'chunk-id', 1);
    expect(box.open(wrapped.wrapped, `tenant-key/${TENANT}/chunk-id/1`).equals(key)).toBe(true);
  });

  it('refuses another master key, naming both ids', () => {
    const { wrapped } = createTenantKey(box, TENANT, 'data', 2);
    const other = new SealedBox('master-2', randomBytes(32).toString('base64'));
    expect(() => unwrapTenantKey(other, TENANT, wrapped)).toThrow(/"master-1".*"master-2"/);
    // same id, different key material: the tag fails
    const impostor = new SealedBox('master-1', randomBytes(32).toString('base64'));
    expect(() => unwrapTenantKey(impostor, TENANT, wrapped)).toThrow(/does not unwrap/);
  });

  it('refuses a key presented as another tenant, kind or number', () => {
    const { wrapped } = createTenantKey(box, TENANT, 'data', 3);
    expect(() => unwrapTenantKey(box, 'another-tenant', wrapped)).toThrow(/does not unwrap/);
    expect(() => unwrapTenantKey(box, TENANT, { ...wrapped, kind: 'chunk-id' })).toThrow(/does not unwrap/);
    expect(() => unwrapTenantKey(box, TENANT, { ...wrapped, number: 4 })).toThrow(/does not unwrap/);
    const damaged = Buffer.from(wrapped.wrapped);
    damaged[damaged.length - 1] ^= 1;
    expect(() => unwrapTenantKey(box, TENANT, { ...wrapped, wrapped: damaged })).toThrow(/does not unwrap/);
  });

  it('rejects unknown kinds and numbers outside u32', () => {
    expect(() => createTenantKey(box, TENANT, 'other' as 'data', 1)).toThrow(/kind/);
    expect(() => createTenantKey(box, TENANT, 'data', 0)).toThrow(/number/);
    expect(() => createTenantKey(box, TENANT, 'data', 2 ** 32)).toThrow(/number/);
  });
});

describe('keyring', () => {
  const keys: WrappedTenantKey[] = [
    createTenantKey(box, TENANT, 'chunk-id', 1).wrapped,
    createTenantKey(box, TENANT, 'data', 1).wrapped,
    createTenantKey(box, TENANT, 'data', 2).wrapped,
  ];

  it('round-trips, and the keys still unwrap', () => {
    const decoded = decodeKeyring(encodeKeyring(TENANT, keys));
    expect(decoded).toEqual({ tenantId: TENANT, keys });
    for (const key of decoded.keys) expect(unwrapTenantKey(box, TENANT, key)).toHaveLength(32);
  });

  it('is the JSON of docs/format.md', () => {
    const json = JSON.parse(encodeKeyring(TENANT, keys).toString()) as { tenantId: string; keys: Record<string, unknown>[] };
    expect(json.tenantId).toBe(TENANT);
    expect(Object.keys(json.keys[0]).sort()).toEqual(['createdAt', 'kind', 'masterKeyId', 'number', 'wrapped']);
    expect(json.keys[1]).toEqual({
      kind: 'data',
      number: 1,
      masterKeyId: 'master-1',
      wrapped: keys[1].wrapped.toString('base64'),
      createdAt: keys[1].createdAt.toISOString(),
    });
  });

  it('rejects garbage', () => {
    const valid = JSON.parse(encodeKeyring(TENANT, keys).toString()) as { keys: Record<string, unknown>[] };
    const variant = (change: (json: any) => void) => {
      const json = structuredClone(valid) as any;
      change(json);
      return Buffer.from(JSON.stringify(json));
    };
    expect(() => decodeKeyring(Buffer.from('not json'))).toThrow(/not JSON/);
    expect(() => decodeKeyring(Buffer.from('[]'))).toThrow(/malformed/);
    expect(() => decodeKeyring(variant((j) => delete j.tenantId))).toThrow(/tenantId/);
    expect(() => decodeKeyring(variant((j) => (j.keys = {})))).toThrow(/keys/);
    expect(() => decodeKeyring(variant((j) => (j.keys[0].kind = 'master')))).toThrow(/kind/);
    expect(() => decodeKeyring(variant((j) => (j.keys[0].number = 1.5)))).toThrow(/number/);
    expect(() => decodeKeyring(variant((j) => (j.keys[0].masterKeyId = 7)))).toThrow(/masterKeyId/);
    expect(() => decodeKeyring(variant((j) => (j.keys[0].wrapped = 'not*base64')))).toThrow(/wrapped/);
    expect(() => decodeKeyring(variant((j) => (j.keys[0].createdAt = 'yesterday')))).toThrow(/createdAt/);
    expect(() => decodeKeyring(variant((j) => j.keys.push(j.keys[2])))).toThrow(/data\/2/);
  });
});
