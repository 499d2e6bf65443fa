import { FerryError, FerryErrorCode } from '@ferry/common';

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/**
 * Parses a Range header as S3 does: one `bytes=` range (first-last, first-, or -suffix). Syntax S3
 * ignores (several ranges, other units, garbage) yields undefined, meaning the whole object; a
 * well-formed range that lies wholly past the end is InvalidRange.
 */
export function parseRange(value: string | undefined, size: number): ByteRange | undefined {
  if (value === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const unsatisfiable = () =>
    new FerryError(FerryErrorCode.InvalidRange, 'The requested range is not satisfiable', {
      RangeRequested: value,
      ActualObjectSize: size,
    });
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== '' && Number(match[2]) < start) return undefined;
  if (start >= size) throw unsatisfiable();
  return { start, end };
}
