import { describe, expect, it } from 'vitest';
import { FerryErrorCode } from '@ferry/common';
import { canonicalHeaders, canonicalQueryString, canonicalUri } from './canonical-request.js';
import { payloadProtection } from './payload-hash.js';
import { deriveSigningKey } from './signing-key.js';
import { awsUriEncode, decodeUriComponentStrict, parseQueryString, percentDecodeBytes, splitRequestTarget } from './uri-encoding.js';

const expectCode = (fn: () => unknown, code: FerryErrorCode) => expect(fn).toThrow(expect.objectContaining({ code }));

describe('URI encoding', () => {
  it('encodes every byte but the unreserved ones, in upper-case hex', () => {
    expect(awsUriEncode("AZaz09-._~ !*'()+/=&ü")).toBe("AZaz09-._~%20%21%2A%27%28%29%2B%2F%3D%26%C3%BC");
    expect(awsUriEncode('a/b c', false)).toBe('a/b%20c');
  });

  it('decodes escapes of either case to bytes and leaves everything else literal', () => {
    expect(percentDecodeBytes('%c3%BC%2Fa+b').toString('utf8')).toBe('ü/a+b');
    expect(percentDecodeBytes('100%').toString()).toBe('100%');
    expect(percentDecodeBytes('%zz%4').toString()).toBe('%zz%4');
    expect([...percentDecodeBytes('%FF%00')]).toEqual([0xff, 0]);
  });

  it('decodes key segments strictly', () => {
    expect(decodeUriComponentStrict('my%20key+%E2%9C%93')).toBe('my key+✓');
    expectCode(() => decodeUriComponentStrict('%FF'), FerryErrorCode.InvalidArgument);
    expectCode(() => decodeUriComponentStrict('%C3'), FerryErrorCode.InvalidArgument);
  });

  it('splits request targets, origin-form or absolute-form', () => {
    expect(splitRequestTarget('/b/k?x=1&y')).toEqual({ rawPath: '/b/k', rawQuery: 'x=1&y' });
    expect(splitRequestTarget('http://host:9000/b/k?a=%3F?')).toEqual({ rawPath: '/b/k', rawQuery: 'a=%3F?' });
    expect(splitRequestTarget('https://host')).toEqual({ rawPath: '/', rawQuery: '' });
    expect(splitRequestTarget('/')).toEqual({ rawPath: '/', rawQuery: '' });
  });

  it('parses query parameters with decoded and raw forms', () => {
    expect(parseQueryString('acl&prefix=&delimiter=%2F&k=a+b&&x=1=2')).toEqual([
      { name: 'acl', value: '', rawName: 'acl', rawValue: '' },
      { name: 'prefix', value: '', rawName: 'prefix', rawValue: '' },
      { name: 'delimiter', value: '/', rawName: 'delimiter', rawValue: '%2F' },
      { name: 'k', value: 'a+b', rawName: 'k', rawValue: 'a+b' },
      { name: 'x', value: '1=2', rawName: 'x', rawValue: '1=2' },
    ]);
  });
});

describe('canonical request parts', () => {
  it('canonical URI: decoded once then re-encoded, no normalisation, no double encoding', () => {
    expect(canonicalUri('/b/my%20key')).toBe('/b/my%20key');
    expect(canonicalUri('/b/my key')).toBe('/b/my%20key');
    expect(canonicalUri('/b/%7euser/%2a')).toBe('/b/~user/%2A');
    expect(canonicalUri('/b/a%2Fb')).toBe('/b/a/b');
    expect(canonicalUri('/b//./../k')).toBe('/b//./../k');
    expect(canonicalUri('/b/100%25')).toBe('/b/100%25');
    expect(canonicalUri('')).toBe('/');
  });

  it('canonical query: sorted by name then value, empty values as name=, slashes encoded, signature left out', () => {
    expect(canonicalQueryString('prefix=a/b&acl&max-keys=2&X-Amz-Signature=abc&list-type=2&a=2&a=1&B=x')).toBe(
      'B=x&a=1&a=2&acl=&list-type=2&max-keys=2&prefix=a%2Fb',
    );
    expect(canonicalQueryString('k=%e2%9c%93+&space=%20')).toBe('k=%E2%9C%93%2B&space=%20');
    expect(canonicalQueryString('')).toBe('');
  });

  it('canonical headers: values trimmed, inner whitespace collapsed, repeats joined with commas', () => {
    expect(
      canonicalHeaders({ host: 'h', 'x-amz-meta-a': '  a   b \t c  ', 'x-amz-meta-list': ['1', ' 2 '] }, ['host', 'x-amz-meta-a', 'x-amz-meta-list']),
    ).toBe('host:h\nx-amz-meta-a:a b c\nx-amz-meta-list:1,2\n');
  });
});

describe('payloadProtection', () => {
  it('classifies x-amz-content-sha256 values', () => {
    expect(payloadProtection('UNSIGNED-PAYLOAD')).toEqual({ kind: 'unsigned' });
    expect(payloadProtection('A'.repeat(64))).toEqual({ kind: 'sha256', sha256: 'a'.repeat(64) });
    expect(payloadProtection('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER')).toEqual({
      kind: 'aws-chunked',
      mode: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
    });
    expectCode(() => payloadProtection('a'.repeat(63)), FerryErrorCode.InvalidArgument);
  });
});

describe('deriveSigningKey', () => {
  it('derives the key of the AWS documentation example and caches it', () => {
    // From the AWS "Examples of how to derive a signing key for Signature Version 4" page (iam, 20120215).
    const key = deriveSigningKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam');
    expect(key.toString('hex')).toBe('f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
    expect(deriveSigningKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam')).toBe(key);
    expect(deriveSigningKey('other', '20120215', 'us-east-1', 'iam').equals(key)).toBe(false);
  });
});
