import { XMLBuilder } from 'fast-xml-parser';

/** The folder Veeam's Smart Object Storage API reads in every bucket (a fixed GUID, from Veeam's spec). */
export const SOSAPI_FOLDER = '.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/';
export const SYSTEM_XML_KEY = `${SOSAPI_FOLDER}system.xml`;
export const CAPACITY_XML_KEY = `${SOSAPI_FOLDER}capacity.xml`;
export const SOSAPI_KEYS = [CAPACITY_XML_KEY, SYSTEM_XML_KEY] as const;
export type SosapiKey = (typeof SOSAPI_KEYS)[number];

export const isSosapiKey = (key: string): key is SosapiKey => key === SYSTEM_XML_KEY || key === CAPACITY_XML_KEY;

/**
 * What Ferry recommends to Veeam. The block size (before compression) matches the ~1 MiB average
 * chunk of the repackaging engine; 1000 is S3's (and Ferry's) DeleteObjects limit; 64 parallel
 * requests per task is Veeam's own default. No StorageConcurrentTasksLimit: 0 (unlimited) is its
 * default and Ferry has no reason to lower it.
 */
export const SYSTEM_RECOMMENDATIONS = {
  S3ConcurrentTaskLimit: 64,
  S3MultiObjectDeleteLimit: 1000,
  KbBlockSize: 1024,
} as const;

export interface Capacity {
  quotaBytes: number;
  usedBytes: number;
}

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

// Veeam's spec writes ProtocolVersion and ModelName with literal double quotes inside the element;
// S3's toXml() would escape them to &quot;. Every value here is a constant or a number, so the
// builder may write text as is.
const builder = new XMLBuilder({ format: true, indentBy: '  ', processEntities: false, suppressEmptyNode: false });

/** system.xml: protocol 1.0, capacity reporting only (no upload sessions, no IAM/STS endpoints). */
export function systemXml(): string {
  return (
    DECLARATION +
    (builder.build({
      SystemInfo: {
        ProtocolVersion: '"1.0"',
        ModelName: '"Ferry"',
        ProtocolCapabilities: { CapacityInfo: true, UploadSessions: false, IAMSTS: false },
        SystemRecommendations: SYSTEM_RECOMMENDATIONS,
      },
    }) as string)
  );
}

/** capacity.xml: the tenant's hard quota, what it keeps, and what is left (never negative), in bytes. */
export function capacityXml({ quotaBytes, usedBytes }: Capacity): string {
  return (
    DECLARATION +
    (builder.build({
      CapacityInfo: { Capacity: quotaBytes, Available: Math.max(0, quotaBytes - usedBytes), Used: usedBytes },
    }) as string)
  );
}
