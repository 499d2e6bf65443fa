export * from './databases.js';
export * from './test-config.js';
export * from './builders.js';
