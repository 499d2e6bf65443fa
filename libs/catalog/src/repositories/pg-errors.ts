/** Postgres SQLSTATEs the catalog turns into domain errors. */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';

export function pgCode(error: unknown): string | undefined {
  const driverError = (error as { driverError?: { code?: string }; code?: string }) ?? {};
  return driverError.driverError?.code ?? driverError.code;
}
