export * from './blob.store.js';
export * from './spool.js';
export * from './storage.module.js';
export * from './file-range.js';
