import type { TestProject } from 'vitest/node';
import { prepareTemplateDatabase } from '@ferry/testing';
import { startAzurite, type EmbeddedAzurite } from '../../apps/ferry/src/embedded/azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    azurite: string;
  }
}

let azurite: EmbeddedAzurite | undefined;

/** One Azurite (in memory) and one migrated template database for the whole run. */
export async function setup(project: TestProject): Promise<void> {
  azurite = await startAzurite();
  await prepareTemplateDatabase();
  project.provide('azurite', azurite.connectionString);
}

export async function teardown(): Promise<void> {
  await azurite?.stop();
}
