/** The console's pino logger, for services that log on their own. */
export const CONSOLE_LOGGER = Symbol('CONSOLE_LOGGER');
