import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Plans, who is on which since when, and the invoices billing runs issue. Money is numeric (exact
 * decimals), never float. An issued invoice or credit note cannot be changed or deleted: triggers
 * refuse it, so a correction can only be a new credit note.
 */
export class Billing1764300000002 implements MigrationInterface {
  name = 'Billing1764300000002';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE ledger_plans (
        id uuid PRIMARY KEY,
        name text NOT NULL UNIQUE,
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        storage_basis text NOT NULL CHECK (storage_basis IN ('logical', 'physical')),
        storage_price_per_gb_month numeric(21, 6) NOT NULL CHECK (storage_price_per_gb_month >= 0),
        egress_price_per_gb numeric(21, 6) NOT NULL CHECK (egress_price_per_gb >= 0),
        request_prices_per_1000 jsonb NOT NULL,
        free_storage_gb_months numeric(21, 6) NOT NULL DEFAULT 0 CHECK (free_storage_gb_months >= 0),
        free_egress_gb numeric(21, 6) NOT NULL DEFAULT 0 CHECK (free_egress_gb >= 0),
        free_requests jsonb NOT NULL,
        minimum_charge numeric(21, 6) NOT NULL DEFAULT 0 CHECK (minimum_charge >= 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // an assignment holds from its hour until the tenant's next one
    await db.query(`
      CREATE TABLE ledger_plan_assignments (
        tenant_id uuid NOT NULL,
        effective_from timestamptz NOT NULL CHECK (date_trunc('hour', effective_from) = effective_from),
        plan_id uuid NOT NULL REFERENCES ledger_plans (id),
        assigned_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, effective_from)
      )`);
    await db.query(`CREATE SEQUENCE ledger_invoice_number`);
    await db.query(`CREATE SEQUENCE ledger_credit_note_number`);
    await db.query(`
      CREATE TABLE ledger_invoices (
        id uuid PRIMARY KEY,
        number text NOT NULL UNIQUE,
        kind text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
        tenant_id uuid NOT NULL,
        period_start timestamptz NOT NULL,
        period_end timestamptz NOT NULL,
        currency char(3) NOT NULL,
        total numeric(21, 6) NOT NULL,
        corrects uuid REFERENCES ledger_invoices (id),
        reason text,
        issued_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((kind = 'credit_note') = (corrects IS NOT NULL)),
        CHECK (kind = 'invoice' AND total >= 0 OR kind = 'credit_note' AND total < 0)
      )`);
    // one invoice per tenant, month and currency: a second billing run finds it and leaves it be
    await db.query(`CREATE UNIQUE INDEX ledger_invoices_once ON ledger_invoices (tenant_id, period_start, currency) WHERE kind = 'invoice'`);
    await db.query(`CREATE INDEX ledger_invoices_tenant ON ledger_invoices (tenant_id, period_start)`);
    await db.query(`
      CREATE TABLE ledger_invoice_lines (
        invoice_id uuid NOT NULL REFERENCES ledger_invoices (id),
        line_number int NOT NULL,
        description text NOT NULL,
        plan_id uuid,
        quantity numeric(30, 6) NOT NULL,
        unit text NOT NULL,
        unit_price numeric(21, 6) NOT NULL,
        amount numeric(21, 6) NOT NULL,
        PRIMARY KEY (invoice_id, line_number)
      )`);
    await db.query(`
      CREATE FUNCTION ledger_issued_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'issued % rows cannot be changed or deleted; issue a credit note', TG_TABLE_NAME
          USING ERRCODE = 'integrity_constraint_violation';
      END $$`);
    for (const table of ['ledger_invoices', 'ledger_invoice_lines']) {
      await db.query(`CREATE TRIGGER ${table}_final BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ledger_issued_is_final()`);
    }
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of ['ledger_invoice_lines', 'ledger_invoices', 'ledger_plan_assignments', 'ledger_plans']) await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.query(`DROP FUNCTION IF EXISTS ledger_issued_is_final()`);
    await db.query(`DROP SEQUENCE IF EXISTS ledger_invoice_number`);
    await db.query(`DROP SEQUENCE IF EXISTS ledger_credit_note_number`);
  }
}
