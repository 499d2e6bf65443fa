import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { LedgerInput, LedgerPattern, LedgerReplies } from './ledger.patterns.js';

const KNOWN_CODES = new Set<string>(Object.values(FerryErrorCode));

/**
 * The line to the ledger, for the gateway and the console. A ledger that is down, slow or
 * unreachable becomes ServiceUnavailable (the S3 edge answers 503 SlowDown with Retry-After): the
 * gateway never accepts bytes it cannot account for. The ledger's domain errors come back as such.
 * Nest's TCP client drops a closed or refused socket, so the next call after the ledger is back
 * reconnects.
 */
@Injectable()
export class LedgerClient implements OnModuleDestroy {
  private readonly client: ClientProxy;

  constructor(@Inject(FERRY_CONFIG) private readonly config: ResolvedConfig) {
    this.client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: config.ledger.host, port: config.ledger.port },
    }) as ClientProxy;
  }

  async send<P extends LedgerPattern>(pattern: P, payload: LedgerInput<P>): Promise<LedgerReplies[P]> {
    try {
      return await firstValueFrom(this.client.send<LedgerReplies[P]>(pattern, payload).pipe(timeout(this.config.ledger.timeoutMs)));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && KNOWN_CODES.has(code)) {
        throw new FerryError(code as FerryErrorCode, (error as { message?: string }).message ?? code);
      }
      throw new FerryError(FerryErrorCode.ServiceUnavailable, 'The quota service is unavailable, so uploads are paused; please retry shortly.');
    }
  }

  onModuleDestroy(): Promise<void> {
    return this.client.close();
  }
}
