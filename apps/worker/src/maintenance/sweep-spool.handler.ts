import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode, type Logger } from '@ferry/common';
import { ObjectsRepository, TenantsRepository } from '@ferry/catalog';
import { JobName } from '@ferry/queue';
import { Spool } from '@ferry/storage';
import type { JobHandler } from '../jobs/job-handler.js';
import { WORKER_LOGGER } from '../worker.tokens.js';

/** Files younger than this may belong to an upload still in flight (an idle upload is cut after 2 min). */
export const SPOOL_ORPHAN_AGE_MS = 60 * 60 * 1000;

/**
 * Removes spool files no catalog row refers to: the remains of uploads that failed mid-body in a
 * crashed gateway, or of tenants deleted while a request was in flight. Only files older than an
 * hour are candidates, so nothing an upload is still writing or about to commit is touched.
 */
@Injectable()
export class SweepSpoolHandler implements JobHandler<JobName.SweepSpool> {
  readonly job = JobName.SweepSpool;

  constructor(
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly objects: ObjectsRepository,
    private readonly tenants: TenantsRepository,
    private readonly spool: Spool,
  ) {}

  async handle(): Promise<void> {
    const cutoff = Date.now() - SPOOL_ORPHAN_AGE_MS;
    for (const tenantId of await this.entries(this.spool.root)) {
      const exists = await this.tenants.get(tenantId).then(
        () => true,
        (error: unknown) => {
          if (error instanceof FerryError && error.code === FerryErrorCode.TenantNotFound) return false;
          throw error;
        },
      );
      const referenced = exists ? await this.objects.referencedSpoolPaths(tenantId) : new Set<string>();
      let removed = 0;
      for (const name of await this.entries(join(this.spool.root, tenantId))) {
        const path = `${tenantId}/${name}`;
        if (referenced.has(path)) continue;
        const info = await stat(this.spool.absolute(path)).catch(() => undefined);
        if (!info || info.mtimeMs > cutoff) continue;
        await this.spool.remove(path);
        removed++;
      }
      if (removed > 0) this.logger.info({ tenantId, removed }, 'removed orphaned spool files');
    }
  }

  private async entries(dir: string): Promise<string[]> {
    try {
      return await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }
}
