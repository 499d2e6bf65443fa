import { FerryError, FerryErrorCode } from '@ferry/common';
import { ledgerPayloads, type LedgerPattern, type LedgerPayload, type LedgerReplies } from '@ferry/ledger-contracts';

export type Reply<P extends LedgerPattern> = Promise<LedgerReplies[P]>;

/** Checks a message against its pattern's contract; a bad one is a ValidationFailed, never a crash. */
export function parse<P extends LedgerPattern>(pattern: P, raw: unknown): LedgerPayload<P> {
  const parsed = ledgerPayloads[pattern].safeParse(raw);
  if (!parsed.success) throw new FerryError(FerryErrorCode.ValidationFailed, `${pattern}: ${parsed.error.message}`);
  return parsed.data as LedgerPayload<P>;
}
