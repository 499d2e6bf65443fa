import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, SealedBox } from '@ferry/common';
import { AccessKeysRepository } from '@ferry/catalog';
import { parseAuthorization, verifySignature, type SigV4Request } from '@ferry/s3';
import type { Caller } from './s3-call.js';

/**
 * SigV4 in, one tenant out. The access key is the only thing that names a tenant: a request never
 * says which tenant it is for, so it cannot ask for another one.
 */
@Injectable()
export class Authenticator {
  private readonly box: SealedBox;

  constructor(
    @Inject(FERRY_CONFIG) config: ResolvedConfig,
    private readonly keys: AccessKeysRepository,
  ) {
    this.box = new SealedBox(config.masterKey.id, config.masterKey.key.reveal());
  }

  /**
   * @param bucketName the bucket the request names, read in the same round trip as the key
   * @param object the object version a read names, read in that round trip too (GET and HEAD)
   */
  async authenticate(request: SigV4Request, bucketName?: string, object?: { key: string; versionId: string }): Promise<Caller> {
    const auth = parseAuthorization(request, new Date());
    if (auth.service !== 's3') {
      throw new FerryError(FerryErrorCode.AuthorizationMalformed, `credential scope names service "${auth.service}", expected "s3"`);
    }
    const owner = await this.keys.findActive(auth.accessKeyId, bucketName, object);
    if (!owner) {
      throw new FerryError(FerryErrorCode.InvalidAccessKeyId, 'The AWS Access Key Id you provided does not exist in our records.');
    }
    if (owner.masterKeyId !== this.box.keyId) {
      throw new Error(`access key ${owner.accessKeyId} is sealed under master key ${owner.masterKeyId}, which is not configured`);
    }
    const secret = this.box.open(owner.secretSealed, owner.accessKeyId).toString('utf8');
    const signing = verifySignature(auth, secret, request);
    return {
      tenantId: owner.tenantId,
      container: owner.container,
      accessKeyId: owner.accessKeyId,
      tenantStatus: owner.tenantStatus,
      leaseExpiresAt: owner.leaseExpiresAt,
      blockReads: owner.blockReads,
      auth,
      signing,
      bucket: owner.bucket,
      ...(object && owner.object !== undefined ? { object: { ...object, version: owner.object } } : {}),
    };
  }
}
