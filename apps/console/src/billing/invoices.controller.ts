import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { stringify } from 'csv-stringify/sync';
import { LedgerClient, LedgerPattern, type Invoice } from '@ferry/ledger-contracts';
import { AdminTokenGuard } from '../http/admin-token.guard.js';
import { ApiProblems, ApiZodBody, ApiZodQuery, ApiZodResponse } from '../http/openapi.js';
import { ZodPipe } from '../http/zod.pipe.js';
import { creditNoteSchema, invoiceQuerySchema, invoicesQuerySchema, runBillingSchema, type CreditNoteBody, type InvoicesQuery } from './billing.dto.js';
import { billingRunSchema, invoiceListSchema, invoiceSchema } from './billing.openapi.js';

const IdParam = () => ApiParam({ name: 'id', description: 'invoice or credit note id', schema: { type: 'string', format: 'uuid' } });

/** Billing runs, invoices and credit notes, as JSON or CSV. */
@Controller('admin/v1')
@UseGuards(AdminTokenGuard)
@ApiTags('billing')
@ApiProblems(401, 403, 500, 503)
export class InvoicesController {
  constructor(private readonly ledger: LedgerClient) {}

  @Post('billing/runs')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Invoice a month',
    description: 'Every tenant on a plan during the month (UTC) gets one invoice per currency. Repeating a run issues nothing new: invoices stand.',
  })
  @ApiZodBody(runBillingSchema)
  @ApiZodResponse(200, billingRunSchema, 'what the run issued')
  @ApiProblems(400, 409)
  runBilling(@Body(new ZodPipe(runBillingSchema)) body: { period: string }) {
    return this.ledger.send(LedgerPattern.RunBilling, body);
  }

  @Get('invoices')
  @ApiOperation({ summary: 'List invoices and credit notes', description: '`format=csv` exports one row per document.' })
  @ApiZodQuery(invoicesQuerySchema)
  @ApiZodResponse(200, invoiceListSchema, 'the documents, oldest first')
  @ApiProduces('application/json', 'text/csv')
  @ApiProblems(400)
  async list(@Query(new ZodPipe(invoicesQuerySchema)) query: InvoicesQuery, @Res({ passthrough: true }) res: Response) {
    const { invoices } = await this.ledger.send(LedgerPattern.ListInvoices, { tenantId: query.tenantId, period: query.period });
    if (query.format === 'json') return { invoices };
    const columns = ['number', 'kind', 'tenantId', 'periodStart', 'periodEnd', 'currency', 'total', 'corrects', 'reason', 'issuedAt'] as const;
    return csv(res, 'invoices.csv', [[...columns], ...invoices.map((invoice) => columns.map((column) => invoice[column] ?? ''))]);
  }

  @Get('invoices/:id')
  @ApiOperation({ summary: 'Get an invoice or credit note with its lines', description: '`format=csv` exports one row per line.' })
  @IdParam()
  @ApiZodQuery(invoiceQuerySchema)
  @ApiZodResponse(200, invoiceSchema, 'the document')
  @ApiProduces('application/json', 'text/csv')
  @ApiProblems(400, 404)
  async get(@Param('id', new ParseUUIDPipe()) id: string, @Query(new ZodPipe(invoiceQuerySchema)) query: { format: 'json' | 'csv' }, @Res({ passthrough: true }) res: Response) {
    const invoice = await this.ledger.send(LedgerPattern.GetInvoice, { invoiceId: id });
    return query.format === 'json' ? invoice : csv(res, `${invoice.number}.csv`, invoiceRows(invoice));
  }

  @Post('invoices/:id/credit-notes')
  @ApiOperation({ summary: 'Correct an invoice with a credit note', description: 'The invoice never changes; the credit note is a new document with a negative total.' })
  @IdParam()
  @ApiZodBody(creditNoteSchema)
  @ApiZodResponse(201, invoiceSchema, 'the credit note')
  @ApiProblems(400, 404, 409)
  credit(@Param('id', new ParseUUIDPipe()) id: string, @Body(new ZodPipe(creditNoteSchema)) body: CreditNoteBody) {
    return this.ledger.send(LedgerPattern.CreateCreditNote, { invoiceId: id, ...body });
  }
}

function invoiceRows(invoice: Invoice): unknown[][] {
  const header = ['number', 'kind', 'tenantId', 'periodStart', 'periodEnd', 'currency', 'lineNumber', 'description', 'quantity', 'unit', 'unitPrice', 'amount', 'invoiceTotal'];
  return [
    header,
    ...invoice.lines.map((line) => [
      invoice.number,
      invoice.kind,
      invoice.tenantId,
      invoice.periodStart,
      invoice.periodEnd,
      invoice.currency,
      line.lineNumber,
      line.description,
      line.quantity,
      line.unit,
      line.unitPrice,
      line.amount,
      invoice.total,
    ]),
  ];
}

function csv(res: Response, filename: string, rows: unknown[][]): string {
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  return stringify(rows);
}
