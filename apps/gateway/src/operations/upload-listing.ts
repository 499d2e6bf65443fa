import type { MultipartUploadEntity, UploadsRepository } from '@ferry/catalog';
import { prefixSuccessor } from './listing.js';

export type UploadEntry = { kind: 'upload'; upload: MultipartUploadEntity } | { kind: 'prefix'; prefix: string };

export interface UploadPage {
  entries: UploadEntry[];
  truncated: boolean;
  /** Where the next page starts: the last key (or common prefix) and upload id returned. */
  next?: { keyMarker: string; uploadIdMarker: string };
}

const BATCH = 1000;

/**
 * One page of ListMultipartUploads: uploads by key then upload id; with a delimiter, keys sharing
 * the next delimiter-terminated segment fold into one common prefix and the scan jumps past it.
 */
export async function listUploadPage(
  uploads: UploadsRepository,
  tenantId: string,
  bucketId: string,
  request: { prefix: string; delimiter: string; keyMarker: string; uploadIdMarker: string; limit: number },
): Promise<UploadPage> {
  const { prefix, delimiter, limit } = request;
  const entries: UploadEntry[] = [];
  let keyMarker = request.keyMarker;
  let uploadIdMarker = request.uploadIdMarker;
  const commonPrefix = (key: string) => {
    if (delimiter === '') return undefined;
    const at = key.indexOf(delimiter, prefix.length);
    return at === -1 ? undefined : key.slice(0, at + delimiter.length);
  };
  // resuming after a common prefix skips every upload beneath it
  if (keyMarker !== '' && commonPrefix(keyMarker) === keyMarker) {
    keyMarker = prefixSuccessor(keyMarker);
    uploadIdMarker = '';
  }
  for (;;) {
    const batch = await uploads.list(tenantId, bucketId, { prefix, keyMarker, uploadIdMarker, limit: BATCH });
    let jumped = false;
    for (const upload of batch) {
      if (entries.length === limit) return { entries, truncated: true, next: resumeAfter(entries.at(-1)) };
      const folded = commonPrefix(upload.key);
      if (folded !== undefined) {
        entries.push({ kind: 'prefix', prefix: folded });
        keyMarker = prefixSuccessor(folded);
        uploadIdMarker = '';
        jumped = true;
        break;
      }
      entries.push({ kind: 'upload', upload });
      keyMarker = upload.key;
      uploadIdMarker = upload.id;
    }
    if (!jumped && batch.length < BATCH) return { entries, truncated: false };
  }
}

function resumeAfter(last: UploadEntry | undefined): UploadPage['next'] {
  if (!last) return undefined;
  return last.kind === 'upload' ? { keyMarker: last.upload.key, uploadIdMarker: last.upload.id } : { keyMarker: last.prefix, uploadIdMarker: '' };
}
