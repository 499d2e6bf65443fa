import { processEnvWith, toEnv, type ResolvedConfig } from '@ferry/config';

/**
 * The environment an app process runs with: the resolved configuration, plus a larger libuv
 * thread pool, since every acknowledged upload fsyncs on it and four threads would serialise
 * concurrent uploads behind each other.
 */
export function appEnvironment(config: ResolvedConfig): Record<string, string | undefined> {
  return processEnvWith({ ...toEnv(config), UV_THREADPOOL_SIZE: '16' });
}
