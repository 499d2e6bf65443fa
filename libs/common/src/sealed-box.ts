import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM under the operator's master key, for small secrets kept in Postgres (access-key
 * secrets, later tenant data keys). Layout: 1-byte version, 12-byte IV, 16-byte tag, ciphertext.
 * The associated data binds a ciphertext to its row, so one row's secret cannot be pasted into another.
 */
export class SealedBox {
  private readonly key: Buffer;
  constructor(
    readonly keyId: string,
    keyBase64: string,
  ) {
    this.key = Buffer.from(keyBase64, 'base64');
    if (this.key.length !== 32) throw new Error('master key must be 32 bytes');
  }

  seal(plaintext: Buffer, associatedData: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([1]), iv, cipher.getAuthTag(), body]);
  }

  open(sealed: Buffer, associatedData: string): Buffer {
    if (sealed.length < 29 || sealed[0] !== 1) throw new Error('unknown sealed-box format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(1, 13));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(sealed.subarray(13, 29));
    return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]);
  }
}
