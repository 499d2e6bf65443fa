import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { LedgerPattern } from '@ferry/ledger-contracts';
import { parse, type Reply } from '../payload.js';
import { BillingService, monthOf } from './billing.service.js';
import { InvoicesRepository } from './invoices.repository.js';
import { PlansRepository } from './plans.repository.js';

/** Plans, assignments, billing runs and invoices over the ledger's transport. */
@Controller()
export class BillingController {
  constructor(
    private readonly plans: PlansRepository,
    private readonly invoices: InvoicesRepository,
    private readonly billing: BillingService,
  ) {}

  @MessagePattern(LedgerPattern.CreatePlan)
  createPlan(@Payload() raw: unknown): Reply<LedgerPattern.CreatePlan> {
    return this.plans.create(parse(LedgerPattern.CreatePlan, raw));
  }

  @MessagePattern(LedgerPattern.ListPlans)
  async listPlans(@Payload() raw: unknown): Reply<LedgerPattern.ListPlans> {
    parse(LedgerPattern.ListPlans, raw);
    return { plans: await this.plans.list() };
  }

  @MessagePattern(LedgerPattern.GetPlan)
  getPlan(@Payload() raw: unknown): Reply<LedgerPattern.GetPlan> {
    return this.plans.get(parse(LedgerPattern.GetPlan, raw).planId);
  }

  @MessagePattern(LedgerPattern.UpdatePlan)
  updatePlan(@Payload() raw: unknown): Reply<LedgerPattern.UpdatePlan> {
    const request = parse(LedgerPattern.UpdatePlan, raw);
    return this.plans.update(request.planId, request.changes);
  }

  @MessagePattern(LedgerPattern.DeletePlan)
  async deletePlan(@Payload() raw: unknown): Reply<LedgerPattern.DeletePlan> {
    await this.plans.delete(parse(LedgerPattern.DeletePlan, raw).planId);
    return { deleted: true };
  }

  @MessagePattern(LedgerPattern.AssignPlan)
  async assignPlan(@Payload() raw: unknown): Reply<LedgerPattern.AssignPlan> {
    const request = parse(LedgerPattern.AssignPlan, raw);
    return { assignments: await this.billing.assign(request.tenantId, request.planId, request.effectiveFrom) };
  }

  @MessagePattern(LedgerPattern.TenantPlans)
  async tenantPlans(@Payload() raw: unknown): Reply<LedgerPattern.TenantPlans> {
    return { assignments: await this.plans.assignments(parse(LedgerPattern.TenantPlans, raw).tenantId) };
  }

  @MessagePattern(LedgerPattern.RunBilling)
  runBilling(@Payload() raw: unknown): Reply<LedgerPattern.RunBilling> {
    return this.billing.run(parse(LedgerPattern.RunBilling, raw).period);
  }

  @MessagePattern(LedgerPattern.ListInvoices)
  async listInvoices(@Payload() raw: unknown): Reply<LedgerPattern.ListInvoices> {
    const query = parse(LedgerPattern.ListInvoices, raw);
    return { invoices: await this.invoices.list({ tenantId: query.tenantId, periodStart: query.period ? monthOf(query.period).start : undefined }) };
  }

  @MessagePattern(LedgerPattern.GetInvoice)
  getInvoice(@Payload() raw: unknown): Reply<LedgerPattern.GetInvoice> {
    return this.invoices.get(parse(LedgerPattern.GetInvoice, raw).invoiceId);
  }

  @MessagePattern(LedgerPattern.CreateCreditNote)
  createCreditNote(@Payload() raw: unknown): Reply<LedgerPattern.CreateCreditNote> {
    const request = parse(LedgerPattern.CreateCreditNote, raw);
    return this.billing.credit(request.invoiceId, request.reason, request.amount);
  }
}
