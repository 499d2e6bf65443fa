import { randomUUID } from 'node:crypto';
import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { throwError, type Observable } from 'rxjs';
import { FerryError, type Logger } from '@ferry/common';

/** Domain errors cross the transport as `{ code, message }`; anything else as an InternalError with a logged id. */
@Catch()
export class LedgerErrorsFilter implements RpcExceptionFilter<unknown> {
  constructor(private readonly logger: Logger) {}

  catch(error: unknown): Observable<never> {
    if (error instanceof RpcException) return throwError(() => error.getError());
    if (error instanceof FerryError) return throwError(() => ({ code: error.code, message: error.message }));
    const errorId = randomUUID();
    this.logger.error({ err: error, errorId }, 'unhandled ledger error');
    return throwError(() => ({ code: 'InternalError', message: `internal error ${errorId}` }));
  }
}
