import { randomUUID } from 'node:crypto';
import { Decimal } from 'decimal.js';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { Invoice, InvoiceLine } from '@ferry/ledger-contracts';
import { minorDigits, type CalculatedLine, type SegmentUsage } from './invoice.calculator.js';

interface InvoiceRow {
  id: string;
  number: string;
  kind: 'invoice' | 'credit_note';
  tenant_id: string;
  period_start: Date;
  period_end: Date;
  currency: string;
  total: string;
  corrects: string | null;
  reason: string | null;
  issued_at: Date;
}

interface LineRow {
  line_number: number;
  description: string;
  plan_id: string | null;
  quantity: string;
  unit: string;
  unit_price: string;
  amount: string;
}

export interface NewDocument {
  kind: 'invoice' | 'credit_note';
  tenantId: string;
  periodStart: Date;
  periodEnd: Date;
  currency: string;
  total: string;
  corrects?: string;
  reason?: string;
  lines: CalculatedLine[];
}

/** Invoices and credit notes: written once, read many times, never changed (triggers refuse it). */
@Injectable()
export class InvoicesRepository {
  constructor(private readonly db: DataSource) {}

  /** A tenant's metered usage in [start, end), from the hourly rows. */
  async usage(tenantId: string, start: Date, end: Date): Promise<SegmentUsage> {
    const [row] = (await this.db.query(
      `SELECT coalesce(sum(logical_byte_seconds), 0)::text AS logical, coalesce(sum(physical_byte_seconds), 0)::text AS physical,
              coalesce(sum(egress_bytes), 0)::bigint AS egress, coalesce(sum(write_requests), 0)::bigint AS write,
              coalesce(sum(read_requests), 0)::bigint AS read, coalesce(sum(list_requests), 0)::bigint AS list,
              coalesce(sum(delete_requests), 0)::bigint AS delete
         FROM ledger_usage_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $3`,
      [tenantId, start, end],
    )) as { logical: string; physical: string; egress: string; write: string; read: string; list: string; delete: string }[];
    return {
      logicalByteSeconds: row.logical,
      physicalByteSeconds: row.physical,
      egressBytes: Number(row.egress),
      requests: { write: Number(row.write), read: Number(row.read), list: Number(row.list), delete: Number(row.delete) },
    };
  }

  /**
   * Issues an invoice unless the tenant already has one for the period and currency (null then),
   * under a lock per tenant and period so two runs at once issue one, with no gap in the numbers.
   */
  async issueOnce(document: NewDocument): Promise<Invoice | null> {
    return this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`ferry-billing:${document.tenantId}:${document.periodStart.toISOString()}`]);
      const existing = (await tx.query(
        `SELECT 1 FROM ledger_invoices WHERE kind = 'invoice' AND tenant_id = $1 AND period_start = $2 AND currency = $3`,
        [document.tenantId, document.periodStart, document.currency],
      )) as unknown[];
      if (existing.length > 0) return null;
      return this.insert(tx, document);
    });
  }

  /** A credit note against an invoice, at most what is left of it after earlier credit notes. */
  async credit(invoiceId: string, reason: string, amount: string | undefined, lineFor: (invoice: Invoice, amount: string) => CalculatedLine): Promise<Invoice> {
    return this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`ferry-credit:${invoiceId}`]);
      const invoice = await this.read(tx, invoiceId);
      if (invoice.kind !== 'invoice') throw new FerryError(FerryErrorCode.ValidationFailed, 'a credit note corrects an invoice, not another credit note');
      const [credited] = (await tx.query(`SELECT coalesce(-sum(total), 0)::text AS sum FROM ledger_invoices WHERE corrects = $1`, [invoiceId])) as { sum: string }[];
      const digits = minorDigits(invoice.currency);
      const left = new Decimal(invoice.total).minus(credited.sum);
      const wanted = new Decimal(amount ?? left);
      if (wanted.decimalPlaces() > digits) {
        throw new FerryError(FerryErrorCode.ValidationFailed, `amount: ${invoice.currency} has ${digits} decimal places`);
      }
      if (wanted.lte(0)) throw new FerryError(FerryErrorCode.CreditExceedsInvoice, `nothing is left to credit on ${invoice.number}`);
      if (wanted.gt(left)) {
        throw new FerryError(FerryErrorCode.CreditExceedsInvoice, `at most ${left.toFixed(digits)} ${invoice.currency} of ${invoice.number} is left to credit`);
      }
      const line = lineFor(invoice, wanted.toFixed(digits));
      return this.insert(tx, {
        kind: 'credit_note',
        tenantId: invoice.tenantId,
        periodStart: new Date(invoice.periodStart),
        periodEnd: new Date(invoice.periodEnd),
        currency: invoice.currency,
        total: line.amount,
        corrects: invoice.id,
        reason,
        lines: [line],
      });
    });
  }

  async get(invoiceId: string): Promise<Invoice> {
    return this.read(this.db.manager, invoiceId);
  }

  async list(filter: { tenantId?: string; periodStart?: Date }): Promise<Omit<Invoice, 'lines'>[]> {
    const rows = (await this.db.query(
      `SELECT * FROM ledger_invoices
        WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::timestamptz IS NULL OR period_start = $2)
        ORDER BY issued_at, number`,
      [filter.tenantId ?? null, filter.periodStart ?? null],
    )) as InvoiceRow[];
    return rows.map(documentOf);
  }

  private async insert(tx: EntityManager, document: NewDocument): Promise<Invoice> {
    const id = randomUUID();
    const sequence = document.kind === 'invoice' ? 'ledger_invoice_number' : 'ledger_credit_note_number';
    const prefix = document.kind === 'invoice' ? 'INV' : 'CN';
    await tx.query(
      `INSERT INTO ledger_invoices (id, number, kind, tenant_id, period_start, period_end, currency, total, corrects, reason)
       VALUES ($1, $2 || '-' || lpad(nextval('${sequence}')::text, 6, '0'), $3, $4, $5, $6, $7, $8, $9, $10)`,
      [id, prefix, document.kind, document.tenantId, document.periodStart, document.periodEnd, document.currency, document.total, document.corrects ?? null, document.reason ?? null],
    );
    if (document.lines.length > 0) {
      await tx.query(
        `INSERT INTO ledger_invoice_lines (invoice_id, line_number, description, plan_id, quantity, unit, unit_price, amount)
         SELECT $1, n, d, p, q, u, up, a FROM unnest($2::int[], $3::text[], $4::uuid[], $5::numeric[], $6::text[], $7::numeric[], $8::numeric[]) AS t(n, d, p, q, u, up, a)`,
        [
          id,
          document.lines.map((_, index) => index + 1),
          document.lines.map((line) => line.description),
          document.lines.map((line) => line.planId),
          document.lines.map((line) => line.quantity),
          document.lines.map((line) => line.unit),
          document.lines.map((line) => line.unitPrice),
          document.lines.map((line) => line.amount),
        ],
      );
    }
    return this.read(tx, id);
  }

  private async read(tx: EntityManager, invoiceId: string): Promise<Invoice> {
    const [row] = (await tx.query(`SELECT * FROM ledger_invoices WHERE id = $1`, [invoiceId])) as InvoiceRow[];
    if (!row) throw new FerryError(FerryErrorCode.InvoiceNotFound, `no invoice ${invoiceId}`);
    const lines = (await tx.query(`SELECT * FROM ledger_invoice_lines WHERE invoice_id = $1 ORDER BY line_number`, [invoiceId])) as LineRow[];
    const digits = minorDigits(row.currency);
    return {
      ...documentOf(row),
      lines: lines.map(
        (line): InvoiceLine => ({
          lineNumber: line.line_number,
          description: line.description,
          planId: line.plan_id,
          quantity: trim(line.quantity),
          unit: line.unit,
          unitPrice: trim(line.unit_price),
          amount: fixed(line.amount, digits),
        }),
      ),
    };
  }
}

function documentOf(row: InvoiceRow): Omit<Invoice, 'lines'> {
  return {
    id: row.id,
    number: row.number,
    kind: row.kind,
    tenantId: row.tenant_id,
    periodStart: row.period_start.toISOString(),
    periodEnd: row.period_end.toISOString(),
    currency: row.currency,
    total: fixed(row.total, minorDigits(row.currency)),
    corrects: row.corrects,
    reason: row.reason,
    issuedAt: row.issued_at.toISOString(),
  };
}

const trim = (value: string) => (value.includes('.') ? value.replace(/0+$/, '').replace(/\.$/, '') : value);
const fixed = (value: string, digits: number) => new Decimal(value).toFixed(digits);
