import type { PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { FerryError, FerryErrorCode } from '@ferry/common';

/** Validates a body or query against a zod schema; failures become a 400 naming each field. */
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown): z.output<S> {
    const parsed = this.schema.safeParse(value ?? {});
    if (!parsed.success) {
      const detail = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
      throw new FerryError(FerryErrorCode.ValidationFailed, detail);
    }
    return parsed.data;
  }
}
