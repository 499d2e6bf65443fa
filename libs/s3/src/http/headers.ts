/** Request headers as Node gives them (`req.headers`) or as `req.headersDistinct` gives them. */
export type HeaderBag = Record<string, string | string[] | undefined>;

/**
 * Looks a header up by its lowercase name, tolerating mixed-case keys from hand-built header bags.
 * Repeated values are joined with ',' (the SigV4 rule for canonical headers); Node has already joined
 * most repeats with ', ', so pass `req.headersDistinct` where the exact bytes matter.
 */
export function headerValue(headers: HeaderBag, name: string): string | undefined {
  return headerValues(headers, name)?.join(',');
}

/** Every value of a header, for callers that treat repeats themselves. */
export function headerValues(headers: HeaderBag, name: string): string[] | undefined {
  const direct = headers[name];
  if (direct !== undefined) return asList(direct);
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === name) {
      const value = headers[key];
      if (value !== undefined) return asList(value);
    }
  }
  return undefined;
}

/** Lowercase names of every header present, for checks such as "every x-amz-* header is signed". */
export function headerNames(headers: HeaderBag): string[] {
  return Object.keys(headers)
    .filter((key) => headers[key] !== undefined)
    .map((key) => key.toLowerCase());
}

function asList(value: string | string[]): string[] {
  return typeof value === 'string' ? [value] : value;
}
