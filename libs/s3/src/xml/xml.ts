import { FerryError, FerryErrorCode } from '@ferry/common';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

export const S3_XML_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';
export const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

/** A parsed document: text leaves are strings, repeated elements arrays, empty elements ''. */
export type XmlValue = string | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

/**
 * What toXml() accepts: objects become elements, arrays repeated elements, `undefined`/`null` are
 * left out, Dates become ISO 8601 with milliseconds (S3's timestamp format); keys starting with
 * `@_` are attributes.
 */
export type XmlInput = string | number | boolean | bigint | Date | null | undefined | XmlInputObject | XmlInput[];
export interface XmlInputObject {
  [name: string]: XmlInput;
}

export interface ToXmlOptions {
  /** Put S3's xmlns on the root, as S3's response documents do (its `<Error>` does not). Default true. */
  namespace?: boolean;
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: false,
  // Values are escaped by escapeXml() below, which also covers CR and control characters.
  processEntities: false,
});

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  // Keys such as " 0001" must come back byte for byte: no number parsing, no trimming.
  parseTagValue: false,
  trimValues: false,
  // Decodes numeric character references (&#13;) as well as the five XML entities.
  htmlEntities: true,
});

/**
 * Serialises `body` (shaped as XmlInput; typed `object` so interfaces of response documents pass
 * without an index signature) as the document `<rootName>`.
 */
export function toXml(rootName: string, body: object, options: ToXmlOptions = {}): string {
  const root = (prepare(body as XmlInputObject) ?? {}) as XmlObject;
  if (options.namespace ?? true) root['@_xmlns'] = S3_XML_NAMESPACE;
  return XML_DECLARATION + (builder.build({ [rootName]: root }) as string);
}

/**
 * Escapes text for element content and attribute values. CR and other control characters become
 * character references, as S3 itself writes them (strictly XML 1.0 forbids most of them; clients
 * that care ask for `encoding-type=url`).
 */
export function escapeXml(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must become references
  return text.replace(/[&<>"'\u0000-\u0008\u000b-\u001f]/g, (ch) => {
    switch (ch) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      case "'":
        return '&apos;';
      default:
        return `&#x${ch.charCodeAt(0).toString(16).toUpperCase()};`;
    }
  });
}

/**
 * Parses a request body. Anything that is not one well-formed element is MalformedXML, and so is
 * any DTD: S3 never needs one, and entity definitions are how XML bombs get in. Returns the root
 * element's name and content.
 */
export function parseXml(body: string): { root: string; value: XmlValue } {
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) throw malformed('Document type declarations are not allowed.');
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    throw malformed('The XML you provided was not well-formed or did not validate against our published schema.', {
      Line: valid.err.line,
      Column: valid.err.col,
    });
  }
  const document = parser.parse(body) as XmlObject;
  const roots = Object.keys(document).filter((name) => !name.startsWith('?'));
  const root = roots[0];
  if (roots.length !== 1 || root === undefined || Array.isArray(document[root])) {
    throw malformed('The XML must have exactly one root element.');
  }
  return { root, value: dropLayoutText(document[root]!) };
}

/** A child that may occur once or many times, as an array either way. */
export function asArray(value: XmlValue | undefined): XmlValue[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function prepare(value: XmlInput): XmlValue | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(prepare).filter((item): item is XmlValue => item !== undefined);
  if (typeof value === 'object') {
    const out: XmlObject = {};
    for (const [name, child] of Object.entries(value)) {
      const prepared = prepare(child);
      if (prepared !== undefined) out[name] = prepared;
    }
    return out;
  }
  return escapeXml(String(value));
}

/** Whitespace between child elements is layout, not content; text of leaf elements is kept as is. */
function dropLayoutText(value: XmlValue): XmlValue {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(dropLayoutText);
  const out: XmlObject = {};
  for (const [name, child] of Object.entries(value)) {
    if (name === '#text' && typeof child === 'string' && child.trim() === '') continue;
    out[name] = dropLayoutText(child);
  }
  return out;
}

function malformed(message: string, details: Record<string, string | number | undefined> = {}): FerryError {
  return new FerryError(FerryErrorCode.MalformedXML, message, details);
}
