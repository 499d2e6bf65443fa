import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode } from '@ferry/common';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Operator routes: `Authorization: Bearer <FERRY_ADMIN_TOKEN>`; 401 without it, 403 with a wrong one. */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(FERRY_CONFIG) config: ResolvedConfig) {
    this.expected = digest(config.adminToken.reveal());
  }

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<Request>().headers.authorization;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) throw new FerryError(FerryErrorCode.Unauthenticated, 'operator token required: Authorization: Bearer <token>');
    if (!timingSafeEqual(digest(match[1]), this.expected)) {
      throw new FerryError(FerryErrorCode.AccessDenied, 'operator token is not valid');
    }
    return true;
  }
}
