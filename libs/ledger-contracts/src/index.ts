export * from './ledger.patterns.js';
export * from './ledger.client.js';
