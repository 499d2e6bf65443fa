import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { BucketsRepository } from '@ferry/catalog';
import { parseXml, validateBucketName } from '@ferry/s3';
import { requestBucket, type BucketCall, type S3Call } from '../s3/s3-call.js';
import { sendXml } from '../s3/responder.js';
import { readVerifiedSmallBody } from '../ingest/small-body.js';

/** Service- and bucket-level operations that need no listing. */
@Injectable()
export class BucketOperations {
  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    private readonly buckets: BucketsRepository,
  ) {}

  async listBuckets(call: S3Call): Promise<void> {
    const buckets = await this.buckets.list(call.caller.tenantId);
    sendXml(call.res, 200, 'ListAllMyBucketsResult', {
      Owner: { ID: call.caller.tenantId, DisplayName: call.caller.tenantId },
      Buckets: { Bucket: buckets.map((bucket) => ({ Name: bucket.name, CreationDate: bucket.createdAt.toISOString() })) },
    });
  }

  async createBucket(call: BucketCall): Promise<void> {
    validateBucketName(call.bucket);
    // An optional CreateBucketConfiguration may name a location; every location is this gateway.
    const body = await readVerifiedSmallBody(call, 64 * 1024);
    if (body.length > 0) parseXml(body.toString('utf8'));
    await this.buckets.create(call.caller.tenantId, call.bucket);
    call.res.setHeader('Location', `/${call.bucket}`);
    call.res.writeHead(200).end();
  }

  async headBucket(call: BucketCall): Promise<void> {
    await requestBucket(call, this.buckets);
    call.res.setHeader('x-amz-bucket-region', this.config.region);
    call.res.writeHead(200).end();
  }

  async deleteBucket(call: BucketCall): Promise<void> {
    await this.buckets.deleteEmpty(call.caller.tenantId, call.bucket);
    call.res.writeHead(204).end();
  }

  async getBucketLocation(call: BucketCall): Promise<void> {
    await requestBucket(call, this.buckets);
    // us-east-1 is reported as an empty constraint, as S3 does
    sendXml(call.res, 200, 'LocationConstraint', { '#text': this.config.region === 'us-east-1' ? '' : this.config.region });
  }

  async getBucketVersioning(call: BucketCall): Promise<void> {
    const bucket = await requestBucket(call, this.buckets);
    // An unversioned bucket answers an empty configuration, exactly like S3.
    sendXml(call.res, 200, 'VersioningConfiguration', bucket.versioning === 'Unversioned' ? {} : { Status: bucket.versioning });
  }
}
