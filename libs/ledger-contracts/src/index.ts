export * from './ledger.patterns.js';
export * from './ledger.client.js';
export * from './billing.schemas.js';
