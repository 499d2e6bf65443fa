import { Injectable } from '@nestjs/common';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { FerryError, FerryErrorCode } from '@ferry/common';
import {
  AwsChunkedDecoder,
  checksumHeaderName,
  createHasher,
  encodeChecksum,
  payloadProtection,
  readContentMd5,
  readRequestedChecksum,
  readTrailerChecksum,
  type ChecksumAlgorithm,
  type Hasher,
} from '@ferry/s3';
import { Spool } from '@ferry/storage';
import { header, type S3Call } from '../s3/s3-call.js';
import { BodyMeter } from './body-meter.js';

/** S3's single-request object limit (PutObject, UploadPart). */
export const MAX_SINGLE_UPLOAD = 5 * 1024 ** 3;

export interface Ingested {
  /** Spool path (relative), fsync'd together with its directory entry. */
  spoolPath: string;
  size: number;
  md5Hex: string;
  /** The client's additional checksum, verified, base64 as S3 returns it. */
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
}

function declaredLength(call: S3Call, aws: boolean): number | undefined {
  const name = aws ? 'x-amz-decoded-content-length' : 'content-length';
  const raw = header(call, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new FerryError(FerryErrorCode.InvalidArgument, `${name} is not a valid length`);
  return Number(raw);
}

/**
 * Streams a request body to the spool while decoding aws-chunked framing and computing MD5 and the
 * client's checksum. Nothing stays unless every check passes: the declared length, the signed
 * payload hash or chunk signatures, Content-MD5 and x-amz-checksum-*. The file is fsync'd before
 * this resolves, so the caller may acknowledge as soon as the catalog row commits.
 */
@Injectable()
export class IngestService {
  constructor(private readonly spool: Spool) {}

  async ingest(call: S3Call, maxBytes = MAX_SINGLE_UPLOAD): Promise<Ingested> {
    const protection = payloadProtection(call.caller.auth.payloadHash);
    const aws = protection.kind === 'aws-chunked';
    const declared = declaredLength(call, aws);
    const chunkedTransfer = /\bchunked\b/i.test(header(call, 'transfer-encoding') ?? '');
    if (declared === undefined && !chunkedTransfer) {
      throw new FerryError(FerryErrorCode.MissingContentLength, 'You must provide the Content-Length HTTP header.');
    }
    if (declared !== undefined && declared > maxBytes) {
      throw new FerryError(FerryErrorCode.EntityTooLarge, 'Your proposed upload exceeds the maximum allowed object size.');
    }
    const requested = readRequestedChecksum(call.headers);
    const contentMd5 = readContentMd5(call.headers);

    const md5 = createHasher('MD5');
    const sha256 = protection.kind === 'sha256' ? createHasher('SHA256') : undefined;
    const extra = requested ? createHasher(requested.algorithm) : undefined;
    const hashers = [md5, sha256, extra].filter((hasher): hasher is Hasher => hasher !== undefined);
    const meter = new BodyMeter(hashers, { declared, max: maxBytes });

    let decoder: AwsChunkedDecoder | undefined;
    const stages: (Readable | NodeJS.ReadWriteStream)[] = [call.req];
    if (protection.kind === 'aws-chunked') {
      decoder = new AwsChunkedDecoder({ mode: protection.mode, signing: call.caller.signing, decodedContentLength: declared });
      stages.push(decoder);
    }
    return this.toSpool(call.caller.tenantId, [...stages, meter], async () => {
      if (declared !== undefined && meter.bytes !== declared) {
        throw new FerryError(FerryErrorCode.IncompleteBody, 'You did not provide the number of bytes specified by the Content-Length HTTP header.');
      }
      if (sha256 && protection.kind === 'sha256' && sha256.digest().toString('hex') !== protection.sha256) {
        throw new FerryError(FerryErrorCode.ContentSha256Mismatch, 'The provided x-amz-content-sha256 header does not match what was computed.');
      }
      const md5Digest = md5.digest();
      if (contentMd5 && !contentMd5.equals(md5Digest)) {
        throw new FerryError(FerryErrorCode.BadDigest, 'The Content-MD5 you specified did not match what we received.');
      }
      let checksum: Ingested['checksum'];
      if (requested && extra) {
        const expected =
          requested.location === 'header' ? requested.expected : readTrailerChecksum(requested.algorithm, decoder?.trailers ?? new Map());
        const actual = extra.digest();
        if (!expected.equals(actual)) {
          throw new FerryError(
            FerryErrorCode.BadDigest,
            `The ${checksumHeaderName(requested.algorithm)} you specified did not match the calculated checksum.`,
          );
        }
        checksum = { algorithm: requested.algorithm, value: encodeChecksum(actual) };
      }
      return { size: meter.bytes, md5Hex: md5Digest.toString('hex'), checksum };
    });
  }

  /**
   * Copies `size` bytes of another object into a new spool file (CopyObject, UploadPartCopy),
   * computing MD5 and the given checksum algorithm on the way.
   */
  async copy(tenantId: string, source: Readable, size: number, algorithm?: ChecksumAlgorithm): Promise<Ingested> {
    const md5 = createHasher('MD5');
    const extra = algorithm ? createHasher(algorithm) : undefined;
    const meter = new BodyMeter(extra ? [md5, extra] : [md5], { declared: size, max: MAX_SINGLE_UPLOAD });
    return this.toSpool(tenantId, [source, meter], async () => {
      if (meter.bytes !== size) throw new Error(`copy source yielded ${meter.bytes} of ${size} bytes`);
      return {
        size,
        md5Hex: md5.digest().toString('hex'),
        checksum: algorithm && extra ? { algorithm, value: encodeChecksum(extra.digest()) } : undefined,
      };
    });
  }

  /**
   * Runs `stages` into a new spool file, fsyncs it, runs `verify`, and makes the directory entry
   * durable. On any failure the file is removed: nothing half-written survives.
   */
  private async toSpool(
    tenantId: string,
    stages: (Readable | NodeJS.ReadWriteStream)[],
    verify: () => Promise<Omit<Ingested, 'spoolPath'>>,
  ): Promise<Ingested> {
    const spoolPath = this.spool.newPath(tenantId);
    try {
      const writer = await this.spool.createWriter(spoolPath);
      await pipeline([...stages, writer] as unknown as [Readable, NodeJS.WritableStream]);
      const result = await verify();
      await this.spool.commitDir(spoolPath);
      return { spoolPath, ...result };
    } catch (error) {
      await this.spool.remove(spoolPath);
      throw asBodyError(error);
    }
  }
}

/** A client that hangs up mid-body is an IncompleteBody, not an internal error. */
function asBodyError(error: unknown): unknown {
  if (error instanceof FerryError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (error as Error).message === 'aborted') {
    return new FerryError(FerryErrorCode.IncompleteBody, 'The request body ended before its declared length.');
  }
  return error;
}
