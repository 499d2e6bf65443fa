import { randomBytes } from 'node:crypto';
import type { SealedBox } from '@ferry/common';

export type TenantKeyKind = 'chunk-id' | 'data';

/** A tenant key as Postgres (`tenant_keys`) and the container's `ferry/keyring` hold it. */
export interface WrappedTenantKey {
  kind: TenantKeyKind;
  number: number;
  masterKeyId: string;
  wrapped: Buffer;
  createdAt: Date;
}

export const TENANT_KEY_BYTES = 32;
const KINDS: readonly TenantKeyKind[] = ['chunk-id', 'data'];
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Binds a wrapped key to its tenant, kind and number, so one row's key cannot be pasted into another. */
const associatedData = (tenantId: string, kind: TenantKeyKind, number: number) => `tenant-key/${tenantId}/${kind}/${number}`;

function checkKeyName(kind: unknown, number: unknown): asserts kind is TenantKeyKind {
  if (!KINDS.includes(kind as TenantKeyKind)) throw new TypeError(`unknown tenant key kind ${JSON.stringify(kind)}`);
  // key numbers go into u32 fields of pack headers and trailers
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > 0xffff_ffff) {
    throw new RangeError(`tenant key number must be an integer from 1 to 2^32-1, not ${String(number)}`);
  }
}

export function createTenantKey(
  box: SealedBox,
  tenantId: string,
  kind: TenantKeyKind,
  number: number,
): { key: Buffer; wrapped: WrappedTenantKey } {
  checkKeyName(kind, number);
  const key = randomBytes(TENANT_KEY_BYTES);
  const wrapped = box.seal(key, associatedData(tenantId, kind, number));
  return { key, wrapped: { kind, number, masterKeyId: box.keyId, wrapped, createdAt: new Date() } };
}

export function unwrapTenantKey(box: SealedBox, tenantId: string, wrapped: WrappedTenantKey): Buffer {
  const name = `${wrapped.kind} key ${wrapped.number} of tenant ${tenantId}`;
  if (wrapped.masterKeyId !== box.keyId) {
    throw new Error(`${name} is wrapped by master key "${wrapped.masterKeyId}", but the configured master key is "${box.keyId}"`);
  }
  let key: Buffer;
  try {
    key = box.open(wrapped.wrapped, associatedData(tenantId, wrapped.kind, wrapped.number));
  } catch (error) {
    throw new Error(`${name} does not unwrap with master key "${box.keyId}": damaged, or not this tenant's key of that kind and number`, {
      cause: error,
    });
  }
  if (key.length !== TENANT_KEY_BYTES) throw new Error(`${name} unwraps to ${key.length} bytes, not ${TENANT_KEY_BYTES}`);
  return key;
}

interface KeyringJson {
  tenantId: string;
  keys: { kind: TenantKeyKind; number: number; masterKeyId: string; wrapped: string; createdAt: string }[];
}

/** The container's `ferry/keyring` blob: with the master key it is all a rebuild needs to read the packs. */
export function encodeKeyring(tenantId: string, keys: WrappedTenantKey[]): Buffer {
  if (typeof tenantId !== 'string' || tenantId === '') throw new TypeError('keyring needs a tenant id');
  checkUnique(keys);
  const json: KeyringJson = {
    tenantId,
    keys: keys.map((key) => {
      checkKeyName(key.kind, key.number);
      return {
        kind: key.kind,
        number: key.number,
        masterKeyId: key.masterKeyId,
        wrapped: key.wrapped.toString('base64'),
        createdAt: key.createdAt.toISOString(),
      };
    }),
  };
  return Buffer.from(JSON.stringify(json, null, 2));
}

export function decodeKeyring(data: Buffer): { tenantId: string; keys: WrappedTenantKey[] } {
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch (error) {
    throw new Error('keyring is not JSON', { cause: error });
  }
  const fail = (why: string): never => {
    throw new Error(`malformed keyring: ${why}`);
  };
  if (!isRecord(json)) return fail('not an object');
  const { tenantId, keys } = json;
  if (typeof tenantId !== 'string' || tenantId === '') return fail('tenantId is not a non-empty string');
  if (!Array.isArray(keys)) return fail('keys is not an array');
  const decoded = keys.map((entry: unknown, i): WrappedTenantKey => {
    if (!isRecord(entry)) return fail(`keys[${i}] is not an object`);
    const { kind, number, masterKeyId, wrapped, createdAt } = entry;
    try {
      checkKeyName(kind, number);
    } catch (error) {
      return fail(`keys[${i}]: ${(error as Error).message}`);
    }
    if (typeof masterKeyId !== 'string' || masterKeyId === '') return fail(`keys[${i}].masterKeyId is not a non-empty string`);
    // a SealedBox is at least version, iv and tag: 29 bytes, 40 base64 characters
    if (typeof wrapped !== 'string' || wrapped.length < 40 || !BASE64.test(wrapped)) return fail(`keys[${i}].wrapped is not base64`);
    const at = typeof createdAt === 'string' ? new Date(createdAt) : undefined;
    if (!at || Number.isNaN(at.getTime())) return fail(`keys[${i}].createdAt is not a date`);
    return { kind, number: number as number, masterKeyId, wrapped: Buffer.from(wrapped, 'base64'), createdAt: at };
  });
  try {
    checkUnique(decoded);
  } catch (error) {
    return fail((error as Error).message);
  }
  return { tenantId, keys: decoded };
}

function checkUnique(keys: WrappedTenantKey[]): void {
  const seen = new Set<string>();
  for (const key of keys) {
    const name = `${key.kind}/${key.number}`;
    if (seen.has(name)) throw new Error(`two keys named ${name}`);
    seen.add(name);
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
