import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { SealedBox } from '@ferry/common';
import type { NewAccessKey } from '@ferry/catalog';

const KEY_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Mints access keys: a 20-character id (like AWS's) and a 40-character secret, sealed at rest. */
@Injectable()
export class AccessKeyFactory {
  private readonly box: SealedBox;

  constructor(@Inject(FERRY_CONFIG) config: ResolvedConfig) {
    this.box = new SealedBox(config.masterKey.id, config.masterKey.key.reveal());
  }

  mint(description: string | null = null): { record: NewAccessKey; secretAccessKey: string } {
    const accessKeyId = `FRY${[...randomBytes(17)].map((byte) => KEY_ID_ALPHABET[byte & 31]).join('')}`;
    const secretAccessKey = randomBytes(30).toString('base64').replace(/\+/g, 'x').replace(/\//g, 'y');
    return {
      record: {
        accessKeyId,
        secretSealed: this.box.seal(Buffer.from(secretAccessKey), accessKeyId),
        masterKeyId: this.box.keyId,
        description,
      },
      secretAccessKey,
    };
  }
}
