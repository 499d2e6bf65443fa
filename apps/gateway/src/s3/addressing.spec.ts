import { describe, expect, it } from 'vitest';
import { resolveAddress } from './addressing.js';

describe('resolveAddress', () => {
  it('reads path-style bucket and key, keeping slashes and decoding once', () => {
    expect(resolveAddress('/backups/a//b%20c%2Bd+e', 'localhost:9000', ['localhost'])).toEqual({
      bucket: 'backups',
      key: 'a//b c+d+e',
      virtualHost: false,
    });
    expect(resolveAddress('/backups', '127.0.0.1:9000', ['localhost'])).toEqual({ bucket: 'backups', virtualHost: false });
    expect(resolveAddress('/backups/', '127.0.0.1:9000', ['localhost'])).toEqual({ bucket: 'backups', key: undefined, virtualHost: false });
    expect(resolveAddress('/', '127.0.0.1', ['localhost'])).toEqual({ virtualHost: false });
  });

  it('reads virtual-host-style buckets from configured domains', () => {
    expect(resolveAddress('/dir/file.bin', 'backups.localhost:9000', ['localhost'])).toEqual({
      bucket: 'backups',
      key: 'dir/file.bin',
      virtualHost: true,
    });
    expect(resolveAddress('/', 'my.dotted.bucket.s3.example.com', ['s3.example.com'])).toEqual({
      bucket: 'my.dotted.bucket',
      key: undefined,
      virtualHost: true,
    });
  });

  it('rejects malformed percent-encoding', () => {
    expect(() => resolveAddress('/b/%E0%A4%A', 'x', [])).toThrow(/percent-encoding/);
  });
});
