import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { allStored, eventually, FerryUnderTest, type TenantSession } from '../support/ferry.js';

const run = promisify(execFile);

/** Both ports over HTTPS with the operator's certificate, and real clients that verify it. */
describe('TLS (FERRY_TLS_CERT / FERRY_TLS_KEY)', () => {
  let ferry: FerryUnderTest;
  let t: TenantSession;
  let certFile: string;
  let dir: string | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-tls-'));
    certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.localhost',
      '-keyout', keyFile, '-out', certFile,
    ]);
    ferry = await FerryUnderTest.start({ env: { FERRY_TLS_CERT: certFile, FERRY_TLS_KEY: keyFile } });
    t = await ferry.tenant('secure');
  });

  afterAll(async () => {
    await ferry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the admin API and S3 over HTTPS only', async () => {
    expect(ferry.s3Endpoint.startsWith('https://')).toBe(true);
    expect((await ferry.admin('GET', '/admin/v1/tenants')).status).toBe(200);
    const plain = await fetch(ferry.s3Endpoint.replace('https:', 'http:') + '/healthz').then(
      (response) => response.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
  });

  it('takes single and multipart uploads over TLS intact and forwards them', async () => {
    await t.s3.send(new CreateBucketCommand({ Bucket: 'secure' }));
    const body = randomBytes(2 * 1024 * 1024 + 3);
    await t.s3.send(new PutObjectCommand({ Bucket: 'secure', Key: 'small.bin', Body: body }));
    const big = randomBytes(11 * 1024 * 1024);
    await new Upload({ client: t.s3, params: { Bucket: 'secure', Key: 'big.bin', Body: big }, partSize: 5 * 1024 * 1024 }).done();
    for (const [key, expected] of [['small.bin', body], ['big.bin', big]] as const) {
      const got = await t.s3.send(new GetObjectCommand({ Bucket: 'secure', Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(expected)).toBe(true);
    }
    expect(await eventually(async () => allStored(await ferry.admin('GET', `/admin/v1/tenants/${t.id}/usage`), body.length + big.length))).toBe(true);
  });

  it('works with the AWS CLI verifying the certificate', async () => {
    const { stdout } = await run('/usr/bin/aws', ['--endpoint-url', ferry.s3Endpoint, '--ca-bundle', certFile, 's3', 'ls', 's3://secure'], {
      env: {
        PATH: '/usr/bin:/bin',
        HOME: tmpdir(),
        AWS_ACCESS_KEY_ID: t.accessKeyId,
        AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    expect(stdout).toContain('small.bin');
    expect(stdout).toContain('big.bin');
  });
});
