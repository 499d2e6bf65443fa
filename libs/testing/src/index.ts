export * from './databases.js';
export * from './test-config.js';
