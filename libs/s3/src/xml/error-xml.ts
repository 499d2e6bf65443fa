import { toXml, type XmlInput, type XmlInputObject } from './xml.js';

const FIXED_FIELDS = new Set(['Code', 'Message', 'Resource', 'RequestId']);

/**
 * S3's `<Error>` document. `extra` adds the fields S3 puts beside the message for some codes
 * (`BucketName`, `Key`, `StringToSign`, …), after Message and before Resource as S3 orders them;
 * it cannot override the four fixed fields. The document carries no namespace, like S3's.
 */
export function errorXml(
  code: string,
  message: string,
  resource?: string,
  requestId?: string,
  extra: Record<string, XmlInput> = {},
): string {
  const body: XmlInputObject = { Code: code, Message: message };
  for (const [name, value] of Object.entries(extra)) {
    if (!FIXED_FIELDS.has(name)) body[name] = value;
  }
  body.Resource = resource;
  body.RequestId = requestId;
  return toXml('Error', body, { namespace: false });
}
