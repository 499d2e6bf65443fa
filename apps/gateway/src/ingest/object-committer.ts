import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@ferry/common';
import { ObjectsRepository, type NewObjectVersion } from '@ferry/catalog';
import { JobQueues } from '@ferry/queue';
import { Spool } from '@ferry/storage';
import { GATEWAY_LOGGER } from '../gateway.tokens.js';
import type { Caller } from '../s3/s3-call.js';

/**
 * The last step before an acknowledgement: the spooled bytes become the key's version in one
 * transaction, then forwarding is enqueued. A failed commit removes the spool files; a lost
 * enqueue is harmless, because the reconciler finds every staged row.
 */
@Injectable()
export class ObjectCommitter {
  constructor(
    @Inject(GATEWAY_LOGGER) private readonly logger: Logger,
    private readonly objects: ObjectsRepository,
    private readonly queues: JobQueues,
    private readonly spool: Spool,
  ) {}

  async commit(caller: Caller, bucketId: string, version: NewObjectVersion): Promise<void> {
    try {
      await this.objects.putNullVersion(caller.tenantId, bucketId, caller.container, version);
    } catch (error) {
      for (const segment of version.spool) await this.spool.remove(segment.path);
      throw error;
    }
    this.forward(caller.tenantId, version.id);
  }

  forward(tenantId: string, objectId: string): void {
    this.queues.forward(tenantId, objectId).catch((error: unknown) => {
      this.logger.warn({ err: error, objectId }, 'could not enqueue forwarding; the reconciler will');
    });
  }
}
