import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { Plan, PlanAssignment, PlanInput } from '@ferry/ledger-contracts';

const PG_UNIQUE_VIOLATION = '23505';
const PG_FOREIGN_KEY_VIOLATION = '23503';

interface PlanRow {
  id: string;
  name: string;
  currency: string;
  storage_basis: 'logical' | 'physical';
  storage_price_per_gb_month: string;
  egress_price_per_gb: string;
  request_prices_per_1000: Plan['requestPricesPer1000'];
  free_storage_gb_months: string;
  free_egress_gb: string;
  free_requests: Plan['freeRequests'];
  minimum_charge: string;
  created_at: Date;
  updated_at: Date;
}

/** Plans and assignments. Prices stay exact decimals end to end (numeric in, strings out). */
@Injectable()
export class PlansRepository {
  constructor(private readonly db: DataSource) {}

  async create(input: PlanInput): Promise<Plan> {
    const id = randomUUID();
    try {
      await this.db.query(
        `INSERT INTO ledger_plans (id, name, currency, storage_basis, storage_price_per_gb_month, egress_price_per_gb, request_prices_per_1000,
                                   free_storage_gb_months, free_egress_gb, free_requests, minimum_charge)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [id, ...columns(input)],
      );
    } catch (error) {
      throw named(error, input.name);
    }
    return this.get(id);
  }

  async list(): Promise<Plan[]> {
    return ((await this.db.query(`SELECT * FROM ledger_plans ORDER BY name`)) as PlanRow[]).map(planOf);
  }

  async get(planId: string): Promise<Plan> {
    const [row] = (await this.db.query(`SELECT * FROM ledger_plans WHERE id = $1`, [planId])) as PlanRow[];
    if (!row) throw new FerryError(FerryErrorCode.PlanNotFound, `no plan ${planId}`);
    return planOf(row);
  }

  /**
   * New prices apply to every month not yet invoiced; issued invoices keep the prices they were
   * issued with. To change prices from a date on, create a plan and assign it from then.
   */
  async update(planId: string, changes: Partial<PlanInput>): Promise<Plan> {
    const merged: PlanInput = { ...(await this.get(planId)), ...changes };
    try {
      await this.db.query(
        `UPDATE ledger_plans SET name = $2, currency = $3, storage_basis = $4, storage_price_per_gb_month = $5, egress_price_per_gb = $6,
                request_prices_per_1000 = $7, free_storage_gb_months = $8, free_egress_gb = $9, free_requests = $10, minimum_charge = $11,
                updated_at = now()
          WHERE id = $1`,
        [planId, ...columns(merged)],
      );
    } catch (error) {
      throw named(error, merged.name);
    }
    return this.get(planId);
  }

  /** Only a plan nobody was ever on can go: invoices and history name it. */
  async delete(planId: string): Promise<void> {
    await this.get(planId);
    try {
      await this.db.query(`DELETE FROM ledger_plans WHERE id = $1`, [planId]);
    } catch (error) {
      if ((error as { code?: string }).code === PG_FOREIGN_KEY_VIOLATION) {
        throw new FerryError(FerryErrorCode.PlanInUse, 'a tenant is or was on this plan; it cannot be deleted');
      }
      throw error;
    }
  }

  /** Puts the tenant on the plan from `from` (on the hour); the same hour again replaces that choice. */
  async assign(tenantId: string, planId: string, from: Date): Promise<void> {
    await this.get(planId);
    await this.db.query(
      `INSERT INTO ledger_plan_assignments (tenant_id, effective_from, plan_id) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, effective_from) DO UPDATE SET plan_id = excluded.plan_id, assigned_at = now()`,
      [tenantId, from, planId],
    );
  }

  async assignments(tenantId: string): Promise<PlanAssignment[]> {
    const rows = (await this.db.query(
      `SELECT a.plan_id, p.name, a.effective_from,
              lead(a.effective_from) OVER (ORDER BY a.effective_from) AS effective_to
         FROM ledger_plan_assignments a JOIN ledger_plans p ON p.id = a.plan_id
        WHERE a.tenant_id = $1 ORDER BY a.effective_from`,
      [tenantId],
    )) as { plan_id: string; name: string; effective_from: Date; effective_to: Date | null }[];
    return rows.map((row) => ({
      planId: row.plan_id,
      planName: row.name,
      effectiveFrom: row.effective_from.toISOString(),
      effectiveTo: row.effective_to?.toISOString() ?? null,
    }));
  }

  /** Every tenant on some plan during [start, end). */
  async tenantsBilledIn(start: Date, end: Date): Promise<string[]> {
    const rows = (await this.db.query(
      `SELECT DISTINCT tenant_id FROM (
         SELECT tenant_id, effective_from, lead(effective_from) OVER (PARTITION BY tenant_id ORDER BY effective_from) AS effective_to
           FROM ledger_plan_assignments) a
        WHERE a.effective_from < $2 AND (a.effective_to IS NULL OR a.effective_to > $1)
        ORDER BY tenant_id`,
      [start, end],
    )) as { tenant_id: string }[];
    return rows.map((row) => row.tenant_id);
  }
}

function columns(input: PlanInput): unknown[] {
  return [
    input.name,
    input.currency,
    input.storageBasis,
    input.storagePricePerGbMonth,
    input.egressPricePerGb,
    JSON.stringify(input.requestPricesPer1000),
    input.freeStorageGbMonths,
    input.freeEgressGb,
    JSON.stringify(input.freeRequests),
    input.minimumCharge,
  ];
}

function named(error: unknown, name: string): unknown {
  return (error as { code?: string }).code === PG_UNIQUE_VIOLATION ? new FerryError(FerryErrorCode.PlanExists, `a plan named "${name}" already exists`) : error;
}

/** numeric comes back as a string with the column's scale; prices are shown without trailing zeros. */
const decimal = (value: string) => (value.includes('.') ? value.replace(/0+$/, '').replace(/\.$/, '') : value);

function planOf(row: PlanRow): Plan {
  return {
    id: row.id,
    name: row.name,
    currency: row.currency,
    storageBasis: row.storage_basis,
    storagePricePerGbMonth: decimal(row.storage_price_per_gb_month),
    egressPricePerGb: decimal(row.egress_price_per_gb),
    requestPricesPer1000: row.request_prices_per_1000,
    freeStorageGbMonths: decimal(row.free_storage_gb_months),
    freeEgressGb: decimal(row.free_egress_gb),
    freeRequests: row.free_requests,
    minimumCharge: decimal(row.minimum_charge),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
