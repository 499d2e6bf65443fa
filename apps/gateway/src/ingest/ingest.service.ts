import { Injectable } from '@nestjs/common';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { FerryError, FerryErrorCode } from '@ferry/common';
import {
  AwsChunkedDecoder,
  checksumHeaderName,
  createHasher,
  encodeChecksum,
  HashPool,
  payloadProtection,
  readContentMd5,
  readRequestedChecksum,
  readTrailerChecksum,
  type ChecksumAlgorithm,
  type DigestAlgorithm,
} from '@ferry/s3';
import { Spool } from '@ferry/storage';
import { header, type S3Call } from '../s3/s3-call.js';
import type { Reservation } from '../quota/reservations.js';
import { UsageMeter } from '../metering/usage.meter.js';
import { TenantThrottle } from '../throttle/tenant-throttle.js';
import { BodyDigests } from './body-digests.js';
import { drainToSpool, type BodyLimits } from './spool-sink.js';

/** S3's single-request object limit (PutObject, UploadPart). */
export const MAX_SINGLE_UPLOAD = 5 * 1024 ** 3;

export interface Ingested {
  /** Spool path (relative), fsync'd together with its directory entry. */
  spoolPath: string;
  size: number;
  md5Hex: string;
  /** The client's additional checksum, verified, base64 as S3 returns it. */
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
  /** Every checksum computed over the body (the client's and `alsoCompute`), base64. */
  checksums: Partial<Record<ChecksumAlgorithm, string>>;
}

function declaredLength(call: S3Call, aws: boolean): number | undefined {
  const name = aws ? 'x-amz-decoded-content-length' : 'content-length';
  const raw = header(call, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new FerryError(FerryErrorCode.InvalidArgument, `${name} is not a valid length`);
  return Number(raw);
}

/** The body length a request declares (the decoded length for aws-chunked), if it declares one. */
export function declaredBodyLength(call: S3Call): number | undefined {
  return declaredLength(call, payloadProtection(call.caller.auth.payloadHash).kind === 'aws-chunked');
}

/**
 * Streams a request body to the spool while decoding aws-chunked framing and computing MD5 and the
 * client's checksum. Nothing stays unless every check passes: the declared length, the signed
 * payload hash or chunk signatures, Content-MD5 and x-amz-checksum-*. The file is fsync'd before
 * this resolves, so the caller may acknowledge as soon as the catalog row commits.
 */
@Injectable()
export class IngestService {
  constructor(
    private readonly spool: Spool,
    private readonly hashes: HashPool,
    private readonly meter: UsageMeter,
    private readonly throttle: TenantThrottle,
  ) {}

  /**
   * `alsoCompute` names a checksum to compute even when the client sends none (a multipart upload's
   * algorithm, which every part must carry); a client checksum of another algorithm is refused.
   */
  async ingest(call: S3Call, options: { maxBytes?: number; alsoCompute?: ChecksumAlgorithm; reservation?: Reservation } = {}): Promise<Ingested> {
    const maxBytes = options.maxBytes ?? MAX_SINGLE_UPLOAD;
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
    if (requested && options.alsoCompute && requested.algorithm !== options.alsoCompute) {
      throw new FerryError(
        FerryErrorCode.InvalidRequest,
        `Checksum Type mismatch occurred, expected checksum Type: ${options.alsoCompute.toLowerCase()}, actual checksum Type: ${requested.algorithm.toLowerCase()}`,
      );
    }

    const digests = new BodyDigests(this.hashes, [
      'MD5',
      ...(protection.kind === 'sha256' ? (['SHA256'] as const) : []),
      ...(requested ? [requested.algorithm] : []),
      ...(options.alsoCompute ? [options.alsoCompute] : []),
    ]);
    let decoder: AwsChunkedDecoder | undefined;
    const stages: (Readable | NodeJS.ReadWriteStream)[] = [call.req];
    const paced = this.throttle.pace(call.caller.tenantId);
    if (paced) stages.push(paced);
    if (protection.kind === 'aws-chunked') {
      decoder = new AwsChunkedDecoder({ mode: protection.mode, signing: call.caller.signing, decodedContentLength: declared });
      stages.push(decoder);
    }
    const ingested = await this.toSpool(call.caller.tenantId, stages, digests, { declared, max: maxBytes, reservation: options.reservation }, async (computed, bytes) => {
      if (declared !== undefined && bytes !== declared) {
        throw new FerryError(FerryErrorCode.IncompleteBody, 'You did not provide the number of bytes specified by the Content-Length HTTP header.');
      }
      if (protection.kind === 'sha256' && computed.get('SHA256')!.toString('hex') !== protection.sha256) {
        throw new FerryError(FerryErrorCode.ContentSha256Mismatch, 'The provided x-amz-content-sha256 header does not match what was computed.');
      }
      const md5Digest = computed.get('MD5')!;
      if (contentMd5 && !contentMd5.equals(md5Digest)) {
        throw new FerryError(FerryErrorCode.BadDigest, 'The Content-MD5 you specified did not match what we received.');
      }
      let checksum: Ingested['checksum'];
      if (requested) {
        const expected =
          requested.location === 'header' ? requested.expected : readTrailerChecksum(requested.algorithm, decoder?.trailers ?? new Map());
        const actual = computed.get(requested.algorithm)!;
        if (!expected.equals(actual)) {
          throw new FerryError(
            FerryErrorCode.BadDigest,
            `The ${checksumHeaderName(requested.algorithm)} you specified did not match the calculated checksum.`,
          );
        }
        checksum = { algorithm: requested.algorithm, value: encodeChecksum(actual) };
      }
      const checksums: Ingested['checksums'] = {};
      for (const algorithm of [requested?.algorithm, options.alsoCompute]) {
        if (algorithm) checksums[algorithm] = encodeChecksum(computed.get(algorithm)!);
      }
      return { size: bytes, md5Hex: md5Digest.toString('hex'), checksum, checksums };
    });
    this.meter.ingress(call.caller.tenantId, ingested.size);
    return ingested;
  }

  /**
   * Copies `size` bytes of another object into a new spool file (CopyObject, UploadPartCopy),
   * computing MD5 and the given checksum algorithm on the way.
   */
  async copy(tenantId: string, source: Readable, size: number, algorithm?: ChecksumAlgorithm): Promise<Ingested> {
    const digests = new BodyDigests(this.hashes, algorithm ? ['MD5', algorithm] : ['MD5']);
    return this.toSpool(tenantId, [source], digests, { declared: size, max: MAX_SINGLE_UPLOAD }, async (computed, bytes) => {
      if (bytes !== size) throw new Error(`copy source yielded ${bytes} of ${size} bytes`);
      const checksum = algorithm ? { algorithm, value: encodeChecksum(computed.get(algorithm)!) } : undefined;
      return {
        size,
        md5Hex: computed.get('MD5')!.toString('hex'),
        checksum,
        checksums: checksum ? { [checksum.algorithm]: checksum.value } : {},
      };
    });
  }

  /**
   * MD5 (and the upload's checksum) of a stream that is not kept: a part copied by reference still
   * owes the client the ETag of its bytes. Hashed inline, a copied range at a time.
   */
  async digestOnly(source: Readable, size: number, algorithm?: ChecksumAlgorithm): Promise<Omit<Ingested, 'spoolPath'>> {
    const md5 = createHasher('MD5');
    const extra = algorithm ? createHasher(algorithm) : undefined;
    let bytes = 0;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      md5.update(chunk);
      extra?.update(chunk);
      bytes += chunk.length;
    }
    if (bytes !== size) throw new Error(`copy source yielded ${bytes} of ${size} bytes`);
    const checksum = algorithm && extra ? { algorithm, value: encodeChecksum(extra.digest()) } : undefined;
    return { size, md5Hex: md5.digest().toString('hex'), checksum, checksums: checksum ? { [checksum.algorithm]: checksum.value } : {} };
  }

  /**
   * Runs `stages` into a new spool file, fsyncs it, runs `verify`, and makes the directory entry
   * durable. On any failure the file is removed: nothing half-written survives.
   */
  private async toSpool(
    tenantId: string,
    stages: (Readable | NodeJS.ReadWriteStream)[],
    digests: BodyDigests,
    limits: BodyLimits,
    verify: (computed: Map<DigestAlgorithm, Buffer>, bytes: number) => Promise<Omit<Ingested, 'spoolPath'>>,
  ): Promise<Ingested> {
    const spoolPath = this.spool.newPath(tenantId);
    try {
      const file = await this.spool.openForWrite(spoolPath, true);
      let bytes = 0;
      try {
        const sink = async (source: AsyncIterable<Buffer>) => {
          bytes = await drainToSpool(source, file, digests, limits);
        };
        // pipeline's typings have no overload for a variable number of stages ending in a function
        await (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(...stages, sink);
        await file.handle.sync();
      } finally {
        await file.handle.close();
      }
      const result = await verify(await digests.result(), bytes);
      await this.spool.commitDir(spoolPath);
      return { spoolPath, ...result };
    } catch (error) {
      digests.abandon();
      await this.spool.remove(spoolPath);
      throw asBodyError(error);
    }
  }
}

/**
 * A client that hangs up mid-body is an IncompleteBody, not an internal error; a full spool disk is
 * a 503 the client retries (backup software backs off and comes back), never a half-stored object.
 */
function asBodyError(error: unknown): unknown {
  if (error instanceof FerryError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new FerryError(FerryErrorCode.ServiceUnavailable, 'The gateway cannot store more data right now; please retry later.');
  }
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (error as Error).message === 'aborted') {
    return new FerryError(FerryErrorCode.IncompleteBody, 'The request body ended before its declared length.');
  }
  return error;
}
