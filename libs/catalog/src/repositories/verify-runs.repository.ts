import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { DataSource } from 'typeorm';

export type VerifyRunState = 'queued' | 'running' | 'done' | 'failed';

export interface VerifyRun {
  id: string;
  tenantId: string;
  state: VerifyRunState;
  requestedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  report: unknown;
}

/** Runs of the verify job: requested by the operator, carried out by a worker, report kept. */
@Injectable()
export class VerifyRunsRepository {
  constructor(private readonly db: DataSource) {}

  async create(tenantId: string): Promise<string> {
    const id = randomUUID();
    await this.db.query(`INSERT INTO verify_runs (id, tenant_id, state) VALUES ($1, $2, 'queued')`, [id, tenantId]);
    return id;
  }

  async get(tenantId: string, runId: string): Promise<VerifyRun> {
    const [row] = (await this.db.query(
      `SELECT id, tenant_id, state, requested_at, started_at, finished_at, report FROM verify_runs WHERE tenant_id = $1 AND id = $2`,
      [tenantId, runId],
    )) as { id: string; tenant_id: string; state: VerifyRunState; requested_at: Date; started_at: Date | null; finished_at: Date | null; report: unknown }[];
    if (!row) throw new FerryError(FerryErrorCode.VerifyRunNotFound, `no verify run ${runId} for this tenant`);
    return {
      id: row.id,
      tenantId: row.tenant_id,
      state: row.state,
      requestedAt: row.requested_at,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      report: row.report,
    };
  }

  /** Marks the run started; false when it is not queued (done already: a retried job). */
  async start(tenantId: string, runId: string): Promise<boolean> {
    const [, updated] = (await this.db.query(
      `UPDATE verify_runs SET state = 'running', started_at = now() WHERE tenant_id = $1 AND id = $2 AND state IN ('queued', 'running')`,
      [tenantId, runId],
    )) as [unknown, number];
    return updated === 1;
  }

  async finish(tenantId: string, runId: string, state: 'done' | 'failed', report: unknown): Promise<void> {
    await this.db.query(`UPDATE verify_runs SET state = $3, finished_at = now(), report = $4 WHERE tenant_id = $1 AND id = $2`, [
      tenantId,
      runId,
      state,
      JSON.stringify(report),
    ]);
  }
}
