export * from './ferry.error.js';
export * from './logger.js';
export * from './sealed-box.js';
export * from './periodic.js';
export * from './slab.pool.js';
