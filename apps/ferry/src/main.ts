import 'reflect-metadata';
import { ConfigError, loadConfig, requireResolved } from '@ferry/config';
import { runMigrations } from '@ferry/catalog';
import { start } from './start.command.js';

const [command = 'start'] = process.argv.slice(2);

try {
  switch (command) {
    case 'start':
      await start();
      break;
    case 'migrate': {
      const applied = await runMigrations(requireResolved(loadConfig()).databaseUrl.reveal());
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'catalog is up to date\n');
      break;
    }
    default:
      process.stderr.write(`unknown command "${command}"; commands: start, migrate\n`);
      process.exitCode = 2;
  }
} catch (error) {
  process.stderr.write(`ferry: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
  process.exit(1);
}
