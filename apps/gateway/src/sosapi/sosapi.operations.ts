import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { BucketsRepository, NULL_VERSION, TenantsRepository } from '@ferry/catalog';
import type { ListedObject } from '../operations/listing.js';
import { checkPreconditions } from '../read/conditions.js';
import { parseRange } from '../read/range.js';
import { header, requestBucket, type ObjectCall } from '../s3/s3-call.js';
import { capacityXml, SOSAPI_FOLDER, SOSAPI_KEYS, SYSTEM_XML_KEY, systemXml, type SosapiKey } from './sosapi.xml.js';

/** One of the virtual files, rendered for this request. */
export interface SosapiDocument extends ListedObject {
  key: SosapiKey;
  body: Buffer;
}

/**
 * Veeam's Smart Object Storage API: system.xml and capacity.xml answer in every bucket of the
 * caller, generated per request and never stored. They read only the catalog (no ledger, no Blob),
 * so they answer while those are down and to suspended tenants, and they always describe the
 * caller's own tenant. Every other object operation on those keys is refused.
 */
@Injectable()
export class SosapiOperations {
  constructor(
    private readonly buckets: BucketsRepository,
    private readonly tenants: TenantsRepository,
  ) {}

  getObject(call: ObjectCall): Promise<void> {
    return this.read(call, true);
  }

  headObject(call: ObjectCall): Promise<void> {
    return this.read(call, false);
  }

  /** Writes, deletes, copies onto and uploads to the virtual keys: a client never replaces them. */
  async refuse(call: ObjectCall): Promise<void> {
    await requestBucket(call, this.buckets);
    throw new FerryError(FerryErrorCode.AccessDenied, 'This object is provided by the Veeam Smart Object Storage API and cannot be changed.', {
      Key: call.key,
    });
  }

  /**
   * The virtual files a listing of `prefix` shows. Like MinIO, only a listing that asks for their
   * folder sees them: a plain listing of a bucket stays exactly what the client stored.
   */
  async listed(tenantId: string, prefix: string): Promise<SosapiDocument[]> {
    if (!prefix.startsWith(SOSAPI_FOLDER)) return [];
    const keys = SOSAPI_KEYS.filter((key) => key.startsWith(prefix));
    return Promise.all(keys.map((key) => this.document(tenantId, key)));
  }

  private async read(call: ObjectCall, withBody: boolean): Promise<void> {
    await requestBucket(call, this.buckets);
    const document = await this.document(call.caller.tenantId, call.key as SosapiKey);
    checkPreconditions(call.headers as Record<string, string | undefined>, { etag: document.etag, lastModified: document.createdAt });
    const range = parseRange(header(call, 'range'), document.size);
    const served = range ?? { start: 0, end: document.size - 1 };
    const res = call.res;
    res.setHeader('ETag', `"${document.etag}"`);
    res.setHeader('Last-Modified', document.createdAt.toUTCString());
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Type', 'application/xml');
    res.setHeader('Content-Length', String(served.end - served.start + 1));
    if (range) res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${document.size}`);
    res.statusCode = range ? 206 : 200;
    res.end(withBody ? document.body.subarray(served.start, served.end + 1) : undefined);
  }

  private async document(tenantId: string, key: SosapiKey): Promise<SosapiDocument> {
    const xml = key === SYSTEM_XML_KEY ? systemXml() : capacityXml(await this.tenants.capacity(tenantId));
    const body = Buffer.from(xml, 'utf8');
    return {
      key,
      body,
      versionId: NULL_VERSION,
      isLatest: true,
      size: body.length,
      etag: createHash('md5').update(body).digest('hex'),
      // generated now: a client that caches by date always asks again
      createdAt: new Date(),
      checksums: {},
      checksumType: null,
    };
  }
}
