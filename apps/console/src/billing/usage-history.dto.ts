import { z } from 'zod';

const DAY_MS = 86_400_000;

/** `?granularity=hour|day&from=…&to=…`; by default the last 24 hours, by hour. */
export const usageHistoryQuerySchema = z
  .object({
    granularity: z.enum(['hour', 'day']).default('hour'),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
  })
  .transform((query) => {
    const to = query.to ?? new Date().toISOString();
    const from = query.from ?? new Date(Date.parse(to) - (query.granularity === 'hour' ? DAY_MS : 30 * DAY_MS)).toISOString();
    return { granularity: query.granularity, from, to };
  });

export type UsageHistoryQuery = z.output<typeof usageHistoryQuerySchema>;
