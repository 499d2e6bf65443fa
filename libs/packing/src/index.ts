export * from './chunking/fastcdc.js';
export * from './crypto/chunk-id.js';
export * from './keys/tenant-keys.js';
export * from './keys/tenant-keyring.js';
export * from './keys/keyring-blob.js';
export * from './keys/tenant-record.js';
export * from './container/container.reader.js';
export * from './container/replay.js';
export * from './pack/chunk-frame.js';
export * from './pack/pack-format.js';
export * from './pack/pack.builder.js';
export * from './pack/pack.reader.js';
export * from './pool/packing.pool.js';
export { SPOOL_TASKS_PER_THREAD } from './pool/spool-files.js';
export { framesBound, readObjectSpan, type EncodedFrame, type EncodeTask, type SpoolPiece } from './pool/packing.thread.js';

/** Where a pack lives in its tenant's container (docs/format.md). */
export const packBlobName = (packId: string): string => `packs/${packId}`;
