import 'reflect-metadata';
import { loadConfig, requireResolved } from '@ferry/config';
import { createConsoleApp } from './console.app.js';

const config = requireResolved(loadConfig());
const app = await createConsoleApp(config);
await app.listen(config.consolePort, config.bind);
