/**
 * SigV4 for tests and benches that build S3 requests themselves: @smithy/signature-v4, an
 * implementation independent of the gateway's verifier, with node:crypto as its hash. No vitest
 * here, so the benches can use it too.
 */
import { SignatureV4 } from '@smithy/signature-v4';
// the SDK's hash contract on node:crypto, as the verifier's own tests give it to the signer
import { Sha256 as NodeSha256 } from '../../libs/s3/src/testing/aws-sdk.fixture.js';

export { NodeSha256 };

/** A signer as the S3 client configures one: no double-encoding of the path, no checksum added. */
export const s3SignerFor = (creds: Credentials): SignatureV4 =>
  new SignatureV4({ credentials: creds, region: 'us-east-1', service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** S3's URI encoding of one path segment or query component (RFC 3986 unreserved kept). */
export const s3Encode = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export const objectPath = (bucket: string, key?: string): string =>
  key === undefined ? `/${bucket}` : `/${bucket}/${key.split('/').map(s3Encode).join('/')}`;

export function queryString(query: Record<string, string>): string {
  const parts = Object.entries(query)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${s3Encode(name)}=${s3Encode(value)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

export function hostOf(endpoint: string): { hostname: string; port: number; host: string } {
  const url = new URL(endpoint);
  return { hostname: url.hostname, port: Number(url.port), host: url.host };
}

/**
 * Presigns GETs and other requests for one endpoint and key, as the SDK's presigner builds them:
 * unsigned payload, everything hoisted into the query. Returns the path and query.
 */
export function presigner(
  endpoint: string,
  creds: Credentials,
): (spec: { method: string; path: string; expiresIn: number; signingDate?: Date }) => Promise<string> {
  const { hostname, port, host } = hostOf(endpoint);
  const signer = s3SignerFor(creds);
  return async (spec) => {
    const presigned = await signer.presign(
      { method: spec.method, protocol: 'http:', hostname, port, path: spec.path, query: {}, headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
      { expiresIn: spec.expiresIn, signingDate: spec.signingDate ?? new Date() },
    );
    return spec.path + queryString(presigned.query as Record<string, string>);
  };
}

/** One presigned URL (path and query); see `presigner`. */
export function presign(endpoint: string, creds: Credentials, spec: { method: string; path: string; expiresIn: number; signingDate?: Date }): Promise<string> {
  return presigner(endpoint, creds)(spec);
}
