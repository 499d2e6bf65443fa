import 'reflect-metadata';
import { loadConfig, requireResolved } from '@ferry/config';
import { createWorker } from './worker.app.js';

const worker = await createWorker(requireResolved(loadConfig()));
await worker.init();
