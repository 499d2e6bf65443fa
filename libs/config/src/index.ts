export * from './env.schema.js';
export * from './ferry.config.js';
export * from './config.module.js';
export * from './tls.js';
