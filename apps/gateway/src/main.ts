import 'reflect-metadata';
import { loadConfig, requireResolved } from '@ferry/config';
import { createGateway } from './gateway.app.js';

const config = requireResolved(loadConfig());
const gateway = await createGateway(config);
await gateway.listen(config.s3Port, config.bind);
const stop = () => void gateway.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
