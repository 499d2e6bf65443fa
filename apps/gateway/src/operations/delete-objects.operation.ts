import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { BucketsRepository, NULL_VERSION, ObjectsRepository } from '@ferry/catalog';
import { asArray, parseXml, validateObjectKey, type XmlObject } from '@ferry/s3';
import { readVerifiedSmallBody } from '../ingest/small-body.js';
import { requestBucket, type BucketCall } from '../s3/s3-call.js';
import { sendXml } from '../s3/responder.js';
import { s3Error } from '../s3/s3-errors.js';

const MAX_KEYS = 1000;

interface DeleteRequest {
  quiet: boolean;
  objects: { key: string; versionId?: string }[];
}

/** Parses `<Delete>`; anything else, an empty list or more than 1000 keys is MalformedXML, as in S3. */
export function parseDeleteRequest(xml: string): DeleteRequest {
  const document = parseXml(xml);
  if (document.root !== 'Delete' || typeof document.value !== 'object' || Array.isArray(document.value)) throw malformed();
  const root = document.value;
  const objects = asArray(root.Object).map((entry) => {
    if (typeof entry !== 'object' || Array.isArray(entry) || typeof entry.Key !== 'string') throw malformed();
    const { Key: key, VersionId: versionId } = entry as XmlObject & { Key: string };
    if (versionId !== undefined && typeof versionId !== 'string') throw malformed();
    return { key, versionId };
  });
  if (objects.length === 0 || objects.length > MAX_KEYS) throw malformed();
  return { quiet: String(root.Quiet ?? 'false').trim().toLowerCase() === 'true', objects };
}

const malformed = () =>
  new FerryError(FerryErrorCode.MalformedXML, 'The XML you provided was not well-formed or did not validate against our published schema');

/** DeleteObjects: each key is deleted on its own; per-key failures are reported, not fatal. */
@Injectable()
export class DeleteObjectsOperation {
  constructor(
    private readonly buckets: BucketsRepository,
    private readonly objects: ObjectsRepository,
  ) {}

  async deleteObjects(call: BucketCall): Promise<void> {
    const bucket = await requestBucket(call, this.buckets);
    const body = await readVerifiedSmallBody(call, 2 * 1024 * 1024, { requireIntegrity: true });
    const request = parseDeleteRequest(body.toString('utf8'));
    const deleted: { Key: string; VersionId?: string }[] = [];
    const errors: { Key: string; VersionId?: string; Code: string; Message: string }[] = [];
    for (const entry of request.objects) {
      try {
        validateObjectKey(entry.key);
        if (entry.versionId !== undefined && entry.versionId !== NULL_VERSION) {
          throw new FerryError(FerryErrorCode.NoSuchVersion, 'The specified version does not exist.');
        }
        await this.objects.deleteVersion(call.caller.tenantId, bucket.id, call.caller.container, entry.key, NULL_VERSION);
        deleted.push({ Key: entry.key, ...(entry.versionId ? { VersionId: entry.versionId } : {}) });
      } catch (error) {
        if (!(error instanceof FerryError)) throw error;
        errors.push({ Key: entry.key, ...(entry.versionId ? { VersionId: entry.versionId } : {}), Code: s3Error(error.code).code, Message: error.message });
      }
    }
    sendXml(call.res, 200, 'DeleteResult', { Deleted: request.quiet ? [] : deleted, Error: errors });
  }
}
