import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { CAPACITY_XML_KEY, capacityXml, isSosapiKey, SOSAPI_FOLDER, SYSTEM_XML_KEY, systemXml } from './sosapi.xml.js';

// raw text: the assertions below are on exactly what Veeam reads, not on a parser's coercions
const parse = (xml: string) => new XMLParser({ parseTagValue: false, ignoreDeclaration: true }).parse(xml) as Record<string, any>;

describe('Veeam SOSAPI documents', () => {
  it('names the two files under the fixed system folder of Veeam’s spec', () => {
    expect(SOSAPI_FOLDER).toBe('.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/');
    expect(SYSTEM_XML_KEY).toBe('.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml');
    expect(CAPACITY_XML_KEY).toBe('.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/capacity.xml');
    expect(isSosapiKey(SYSTEM_XML_KEY)).toBe(true);
    expect(isSosapiKey(CAPACITY_XML_KEY)).toBe(true);
    for (const other of [SOSAPI_FOLDER, `${SOSAPI_FOLDER}other.xml`, `x/${SYSTEM_XML_KEY}`, `${SYSTEM_XML_KEY}.bak`, SYSTEM_XML_KEY.toUpperCase()]) {
      expect(isSosapiKey(other)).toBe(false);
    }
  });

  it('system.xml holds exactly the SystemInfo fields, version and model in literal quotes', () => {
    const xml = systemXml();
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    // the quotes are part of the value in Veeam's spec, written as characters, not entities
    expect(xml).toContain('<ProtocolVersion>"1.0"</ProtocolVersion>');
    expect(xml).toContain('<ModelName>"Ferry"</ModelName>');
    const doc = parse(xml);
    expect(Object.keys(doc)).toEqual(['SystemInfo']);
    expect(doc.SystemInfo).toEqual({
      ProtocolVersion: '"1.0"',
      ModelName: '"Ferry"',
      ProtocolCapabilities: { CapacityInfo: 'true', UploadSessions: 'false', IAMSTS: 'false' },
      SystemRecommendations: { S3ConcurrentTaskLimit: '64', S3MultiObjectDeleteLimit: '1000', KbBlockSize: '1024' },
    });
    // no IAM/STS capability, so no APIEndpoints section (mandatory only with IAMSTS)
    expect(xml).not.toContain('APIEndpoints');
  });

  it('capacity.xml reports quota, what is left and what is used, in bytes', () => {
    const xml = capacityXml({ quotaBytes: 10 * 1024 ** 3, usedBytes: 1024 ** 2 });
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = parse(xml);
    expect(Object.keys(doc)).toEqual(['CapacityInfo']);
    expect(doc.CapacityInfo).toEqual({
      Capacity: String(10 * 1024 ** 3),
      Available: String(10 * 1024 ** 3 - 1024 ** 2),
      Used: String(1024 ** 2),
    });
    // field order as in Veeam's spec
    expect(xml.indexOf('<Capacity>')).toBeLessThan(xml.indexOf('<Available>'));
    expect(xml.indexOf('<Available>')).toBeLessThan(xml.indexOf('<Used>'));
  });

  it('never reports negative space: over quota (a lowered quota) is 0 available', () => {
    const doc = parse(capacityXml({ quotaBytes: 1000, usedBytes: 1500 }));
    expect(doc.CapacityInfo).toEqual({ Capacity: '1000', Available: '0', Used: '1500' });
  });

  it('writes byte counts beyond 2^32 as plain integers', () => {
    const petabyte = 2 ** 50;
    const xml = capacityXml({ quotaBytes: petabyte, usedBytes: 0 });
    expect(xml).toContain(`<Capacity>${petabyte}</Capacity>`);
    expect(xml).not.toMatch(/e\+/);
  });
});
