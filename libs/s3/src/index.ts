// Authentication: SigV4 header and presigned verification, aws-chunked bodies.
export {
  parseAuthorization,
  verifySignature,
  type ParsedAuthorization,
  type SigningContext,
  type SigV4Request,
} from './auth/sigv4.js';
export {
  payloadProtection,
  EMPTY_SHA256,
  STREAMING_SIGNED_PAYLOAD,
  STREAMING_SIGNED_PAYLOAD_TRAILER,
  STREAMING_UNSIGNED_PAYLOAD_TRAILER,
  UNSIGNED_PAYLOAD,
  type AwsChunkedMode,
  type PayloadProtection,
} from './auth/payload-hash.js';
export { AwsChunkedDecoder, type AwsChunkedDecoderOptions } from './auth/aws-chunked.decoder.js';
export {
  awsUriEncode,
  decodeUriComponentStrict,
  parseQueryString,
  splitRequestTarget,
  type QueryParam,
} from './auth/uri-encoding.js';

// Integrity: checksums S3 knows and the headers that ask for them.
export {
  CHECKSUM_ALGORITHMS,
  checksumHeaderName,
  createHasher,
  decodeChecksum,
  digestLength,
  digestOf,
  encodeChecksum,
  isChecksumAlgorithm,
  parseChecksumAlgorithm,
  type ChecksumAlgorithm,
  type DigestAlgorithm,
  type Hasher,
} from './integrity/checksums.js';
export {
  declaredTrailers,
  readContentMd5,
  readRequestedChecksum,
  readTrailerChecksum,
  type RequestedChecksum,
} from './integrity/checksum-headers.js';

export { HashPool, HashSession, type PooledAlgorithm } from './integrity/hash-pool.js';
export { combineCrcs, isCombinable } from './integrity/crc-combine.js';

// XML documents.
export {
  asArray,
  escapeXml,
  parseXml,
  toXml,
  S3_XML_NAMESPACE,
  type ToXmlOptions,
  type XmlInput,
  type XmlInputObject,
  type XmlObject,
  type XmlValue,
} from './xml/xml.js';
export { errorXml } from './xml/error-xml.js';

// Names.
export { bucketNameProblem, isValidBucketName, validateBucketName, validateObjectKey } from './names.js';

export { headerValue, type HeaderBag } from './http/headers.js';
