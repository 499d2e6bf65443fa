import { describe, expect, it } from 'vitest';
import { XMLParser } from 'fast-xml-parser';
import { FerryErrorCode } from '@ferry/common';
import { errorXml } from './error-xml.js';
import { asArray, escapeXml, parseXml, toXml, type XmlObject } from './xml.js';

const expectCode = (fn: () => unknown, code: FerryErrorCode) => expect(fn).toThrow(expect.objectContaining({ code }));

describe('toXml', () => {
  it('writes the declaration, the S3 namespace, repeated elements and S3 timestamps', () => {
    const xml = toXml('ListAllMyBucketsResult', {
      Owner: { ID: 'tenant-1', DisplayName: 'Tenant One' },
      Buckets: { Bucket: [{ Name: 'a', CreationDate: new Date('2024-01-02T03:04:05.006Z') }, { Name: 'b' }] },
      Empty: '',
      Skipped: undefined,
      AlsoSkipped: null,
      Count: 2,
      IsTruncated: false,
    });
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>' +
        '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        '<Owner><ID>tenant-1</ID><DisplayName>Tenant One</DisplayName></Owner>' +
        '<Buckets><Bucket><Name>a</Name><CreationDate>2024-01-02T03:04:05.006Z</CreationDate></Bucket><Bucket><Name>b</Name></Bucket></Buckets>' +
        '<Empty></Empty><Count>2</Count><IsTruncated>false</IsTruncated>' +
        '</ListAllMyBucketsResult>',
    );
  });

  it('omits the namespace when asked', () => {
    expect(toXml('LocationConstraint', {}, { namespace: false })).toBe('<?xml version="1.0" encoding="UTF-8"?><LocationConstraint></LocationConstraint>');
  });

  it('accepts interface-typed documents', () => {
    interface Result {
      Key: string;
    }
    const result: Result = { Key: 'k' };
    expect(toXml('R', result)).toContain('<Key>k</Key>');
  });

  it('escapes markup, quotes, CR and control characters so keys survive a round trip', () => {
    const key = `a&b<c>d"e'f\r\ng\u0001h\tü😀`;
    const xml = toXml('ListBucketResult', { Contents: [{ Key: key, ETag: '"abc"' }] });
    expect(xml).toContain('<Key>a&amp;b&lt;c&gt;d&quot;e&apos;f&#xD;\ng&#x1;h\tü😀</Key>');
    expect(xml).toContain('<ETag>&quot;abc&quot;</ETag>');
    // What a client's parser reads back is the original key (CR included, not normalised to LF).
    const parsed = parseXml(xml.replace('&#x1;', '')).value as XmlObject;
    expect((parsed.Contents as XmlObject).Key).toBe(key.replace('\u0001', ''));
  });

  it('puts @_ keys into attributes, escaped', () => {
    expect(toXml('Grantee', { '@_type': 'Canonical"User', ID: '1' }, { namespace: false })).toContain('<Grantee type="Canonical&quot;User"><ID>1</ID></Grantee>');
  });

  it('escapeXml leaves ordinary text alone', () => {
    expect(escapeXml('plain/key-1_2.txt')).toBe('plain/key-1_2.txt');
  });
});

describe('parseXml', () => {
  it('parses a Delete request keeping keys byte for byte (no trimming, no numbers)', () => {
    const { root, value } = parseXml(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n' +
        '  <Object><Key> 0001 </Key></Object>\n  <Object><Key>a &amp; b&#13;</Key><VersionId>007</VersionId></Object>\n' +
        '  <Quiet>true</Quiet>\n</Delete>',
    );
    expect(root).toBe('Delete');
    const body = value as XmlObject;
    const objects = asArray(body.Object) as XmlObject[];
    expect(objects.map((o) => o.Key)).toEqual([' 0001 ', 'a & b\r']);
    expect(objects[1]!.VersionId).toBe('007');
    expect(body.Quiet).toBe('true');
    expect(body['#text']).toBeUndefined();
  });

  it('gives a single child as a value and asArray makes it a list', () => {
    const { value } = parseXml('<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>');
    expect(asArray((value as XmlObject).Part)).toEqual([{ PartNumber: '1' }]);
    expect(asArray(undefined)).toEqual([]);
  });

  it('reads empty elements as empty strings', () => {
    expect(parseXml('<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>').value).toEqual({ LocationConstraint: '' });
  });

  it.each([
    ['unclosed element', '<Delete><Object></Delete>'],
    ['text only', 'hello'],
    ['empty body', ''],
    ['two roots', '<a/><b/>'],
    ['DTD with an entity', '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'],
    ['billion laughs', '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>'],
    ['JSON', '{"Objects": []}'],
  ])('MalformedXML for %s', (_name, body) => {
    expectCode(() => parseXml(body), FerryErrorCode.MalformedXML);
  });
});

describe('errorXml', () => {
  it('writes an S3 Error document without namespace, extra fields before Resource', () => {
    const xml = errorXml('NoSuchKey', 'The specified key does not exist.', '/bucket/a&b', 'REQ123', {
      Key: 'a&b',
      Code: 'ignored',
      Missing: undefined,
    });
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>' +
        '<Key>a&amp;b</Key><Resource>/bucket/a&amp;b</Resource><RequestId>REQ123</RequestId></Error>',
    );
  });

  it('is readable by a generic XML parser, as SDKs read it', () => {
    const parsed = new XMLParser({ parseTagValue: false }).parse(errorXml('AccessDenied', 'Access <Denied>', undefined, 'R1')) as {
      Error: Record<string, string>;
    };
    expect(parsed.Error).toEqual({ Code: 'AccessDenied', Message: 'Access <Denied>', RequestId: 'R1' });
  });
});
