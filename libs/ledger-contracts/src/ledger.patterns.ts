import { z } from 'zod';

/** Message patterns the ledger answers; each has one validated payload schema below. */
export enum LedgerPattern {
  Ping = 'ledger.ping',
}

export const ledgerPayloads = {
  [LedgerPattern.Ping]: z.strictObject({ from: z.string().min(1).max(64) }),
} satisfies Record<LedgerPattern, z.ZodType>;

export type LedgerPayload<P extends LedgerPattern> = z.output<(typeof ledgerPayloads)[P]>;

export interface LedgerReplies {
  [LedgerPattern.Ping]: { ok: true; at: string; database: 'up' };
}
