export * from './ledger.patterns.js';
