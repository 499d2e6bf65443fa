import { createHash } from 'node:crypto';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { MultipartPartEntity, MultipartUploadEntity } from '@ferry/catalog';
import {
  asArray,
  combineCrcs,
  decodeChecksum,
  digestOf,
  encodeChecksum,
  isCombinable,
  parseChecksumAlgorithm,
  parseXml,
  type ChecksumAlgorithm,
  type RequestedChecksum,
  type XmlObject,
} from '@ferry/s3';
import { header, type S3Call } from '../s3/s3-call.js';

/** S3: every part but the last is at least 5 MiB. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;

export interface RequestedPart {
  partNumber: number;
  etag: string;
  checksums: Record<string, string>;
}

const malformed = () =>
  new FerryError(FerryErrorCode.MalformedXML, 'The XML you provided was not well-formed or did not validate against our published schema');

/** Parses `<CompleteMultipartUpload>`; part numbers must be integers and strictly ascending. */
export function parseCompleteRequest(xml: string): RequestedPart[] {
  const document = parseXml(xml);
  if (document.root !== 'CompleteMultipartUpload' || typeof document.value !== 'object' || Array.isArray(document.value)) throw malformed();
  const parts = asArray(document.value.Part).map((entry) => {
    if (typeof entry !== 'object' || Array.isArray(entry)) throw malformed();
    const fields = entry as XmlObject;
    const number = typeof fields.PartNumber === 'string' ? fields.PartNumber.trim() : '';
    if (!/^\d+$/.test(number) || typeof fields.ETag !== 'string') throw malformed();
    const checksums: Record<string, string> = {};
    for (const [name, value] of Object.entries(fields)) {
      if (name.startsWith('Checksum') && name !== 'ChecksumType' && typeof value === 'string') checksums[name.slice('Checksum'.length)] = value.trim();
    }
    return { partNumber: Number(number), etag: fields.ETag.trim().replace(/^"|"$/g, ''), checksums };
  });
  if (parts.length === 0) throw malformed();
  for (let index = 1; index < parts.length; index++) {
    if (parts[index].partNumber <= parts[index - 1].partNumber) {
      throw new FerryError(FerryErrorCode.InvalidPartOrder, 'The list of parts was not in ascending order. The parts list must be specified in order of the part number.');
    }
  }
  return parts;
}

const invalidPart = (number: number) =>
  new FerryError(
    FerryErrorCode.InvalidPart,
    'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.',
    { PartNumber: number },
  );

/**
 * Matches the requested parts against the stored ones: each must exist with the same ETag (and the
 * same checksum when the client repeats it), and all but the last must reach the minimum size.
 */
export function choosePart(requested: RequestedPart[], stored: MultipartPartEntity[]): MultipartPartEntity[] {
  const byNumber = new Map(stored.map((part) => [part.partNumber, part]));
  const chosen = requested.map((want) => {
    const part = byNumber.get(want.partNumber);
    if (!part || part.etag !== want.etag) throw invalidPart(want.partNumber);
    for (const [algorithm, value] of Object.entries(want.checksums)) {
      if (part.checksums[algorithm] !== undefined && part.checksums[algorithm] !== value) throw invalidPart(want.partNumber);
    }
    return part;
  });
  chosen.forEach((part, index) => {
    if (index < chosen.length - 1 && part.size < MIN_PART_BYTES) {
      throw new FerryError(FerryErrorCode.EntityTooSmall, 'Your proposed upload is smaller than the minimum allowed object size.', {
        PartNumber: part.partNumber,
        ProposedSize: part.size,
        MinSizeAllowed: MIN_PART_BYTES,
      });
    }
  });
  return chosen;
}

/** The multipart ETag: MD5 of the parts' binary MD5s, then `-<count>`. */
export function multipartEtag(parts: Pick<MultipartPartEntity, 'etag'>[]): string {
  const md5 = createHash('md5');
  for (const part of parts) md5.update(Buffer.from(part.etag, 'hex'));
  return `${md5.digest('hex')}-${parts.length}`;
}

/**
 * The object's checksum for an upload created with a checksum algorithm: COMPOSITE is the
 * checksum of the parts' checksums, `-<count>`. Undefined when the upload asked for none or a part
 * lacks it.
 */
export function compositeChecksum(upload: MultipartUploadEntity, parts: MultipartPartEntity[]): Record<string, string> | undefined {
  const algorithm = upload.checksumAlgorithm as ChecksumAlgorithm | null;
  if (!algorithm || parts.some((part) => part.checksums[algorithm] === undefined)) return undefined;
  const joined = Buffer.concat(parts.map((part) => decodeChecksum(algorithm, part.checksums[algorithm])));
  return { [algorithm]: `${encodeChecksum(digestOf(algorithm, joined))}-${parts.length}` };
}

/**
 * The checksum a CreateMultipartUpload asks for. CRC64NVME is always FULL_OBJECT; CRC32 and CRC32C
 * may be either (COMPOSITE by default); SHA1 and SHA256 only COMPOSITE.
 */
export function uploadChecksum(call: S3Call): { algorithm: ChecksumAlgorithm | null; type: 'COMPOSITE' | 'FULL_OBJECT' | null } {
  const algorithmHeader = header(call, 'x-amz-checksum-algorithm');
  const typeHeader = header(call, 'x-amz-checksum-type')?.toUpperCase();
  if (typeHeader !== undefined && typeHeader !== 'COMPOSITE' && typeHeader !== 'FULL_OBJECT') {
    throw new FerryError(FerryErrorCode.InvalidRequest, 'Value for x-amz-checksum-type header is invalid.');
  }
  if (!algorithmHeader) {
    if (typeHeader) throw new FerryError(FerryErrorCode.InvalidRequest, 'The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.');
    return { algorithm: null, type: null };
  }
  const algorithm = parseChecksumAlgorithm(algorithmHeader);
  const type = (typeHeader as 'COMPOSITE' | 'FULL_OBJECT' | undefined) ?? (algorithm === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE');
  if (type === 'FULL_OBJECT' && !isCombinable(algorithm)) {
    throw new FerryError(FerryErrorCode.InvalidRequest, `The FULL_OBJECT checksum type cannot be used with the ${algorithm.toLowerCase()} checksum algorithm.`);
  }
  if (type === 'COMPOSITE' && algorithm === 'CRC64NVME') {
    throw new FerryError(FerryErrorCode.InvalidRequest, 'The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.');
  }
  return { algorithm, type };
}

/** FULL_OBJECT: the CRC of the whole object, combined from the parts' CRCs without reading them. */
export function fullObjectChecksum(upload: MultipartUploadEntity, parts: MultipartPartEntity[]): Record<string, string> | undefined {
  const algorithm = upload.checksumAlgorithm as ChecksumAlgorithm | null;
  if (!algorithm || parts.some((part) => part.checksums[algorithm] === undefined)) return undefined;
  const digest = combineCrcs(
    algorithm,
    parts.map((part) => ({ digest: decodeChecksum(algorithm, part.checksums[algorithm]), length: part.size })),
  );
  return { [algorithm]: encodeChecksum(digest) };
}

/** A whole-object checksum the client sent with CompleteMultipartUpload must match what the parts make. */
export function verifyClaimedChecksum(claimed: RequestedChecksum | undefined, computed: Record<string, string> | undefined): void {
  if (!claimed || claimed.location !== 'header') return;
  const ours = computed?.[claimed.algorithm];
  // only a FULL_OBJECT value describes the whole object; a composite one ends in -<parts>
  if (ours === undefined || ours.includes('-')) return;
  if (!claimed.expected.equals(Buffer.from(ours, 'base64'))) {
    throw new FerryError(FerryErrorCode.BadDigest, `The x-amz-checksum-${claimed.algorithm.toLowerCase()} you specified did not match the calculated checksum.`);
  }
}
