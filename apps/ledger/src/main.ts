import 'reflect-metadata';
import { loadConfig, requireResolved } from '@ferry/config';
import { createLedger } from './ledger.app.js';

const ledger = await createLedger(requireResolved(loadConfig()));
await ledger.listen();
